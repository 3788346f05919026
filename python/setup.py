"""Copies libffitel.so into the package at build time (pip install ./python).

The library comes from FFITEL_LIBRARY, else ../build/libffitel.so (run
`make build` first). The wheel is platform-specific because of it.
"""

import os
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = Path(__file__).resolve().parent


def _library() -> Path:
    env = os.environ.get("FFITEL_LIBRARY")
    candidate = Path(env) if env else HERE.parent / "build" / "libffitel.so"
    if not candidate.is_file():
        raise SystemExit(
            f"ffitel: {candidate} is missing. Run `make build` in the repository root "
            "first (or set FFITEL_LIBRARY to a built libffitel.so), then `pip install ./python`."
        )
    return candidate


class BuildPyWithLibrary(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "ffitel" / "lib"
        target.mkdir(parents=True, exist_ok=True)
        shutil.copy2(_library(), target / "libffitel.so")


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:  # a platform wheel: it carries a .so
        return True


setup(cmdclass={"build_py": BuildPyWithLibrary}, distclass=BinaryDistribution)

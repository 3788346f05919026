"""Puts libffitel.so into the package at build time.

The library comes from, in order:

1. FFITEL_LIBRARY, a built libffitel.so (``make dist`` passes the one built
   against glibc 2.17);
2. in a checkout, ``../build/libffitel.so`` (``make build``);
3. ``go build -buildmode=c-shared`` of the Go sources: the sdist carries them
   under ``go/``, a checkout has them one directory up. Without Go on PATH
   the build stops with one message: install a wheel, or Go.

The wheel is tagged ``py3-none-<platform>``: the package is pure Python over
ctypes and the library looks up CPython's stable ABI at run time, so one
wheel serves every CPython 3. FFITEL_WHEEL_PLAT names the platform
(``make dist``: manylinux_2_17_x86_64); the default is this machine's
(linux_x86_64), honest for a library built here.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

try:  # setuptools >= 70.1
    from setuptools.command.bdist_wheel import bdist_wheel
except ImportError:  # older setuptools with the wheel package
    from wheel.bdist_wheel import bdist_wheel  # type: ignore[no-redef]

HERE = Path(__file__).resolve().parent


def _go_sources() -> Path:
    """The Go module holding cshim: go/ in an sdist, the checkout root otherwise."""
    for root in (HERE / "go", HERE.parent):
        if (root / "go.mod").is_file() and (root / "cshim").is_dir():
            return root
    raise SystemExit(
        f"ffitel: no libffitel.so and no Go sources to build one (looked in {HERE / 'go'} "
        f"and {HERE.parent}). Install a prebuilt wheel, or set FFITEL_LIBRARY to a built libffitel.so."
    )


def _go_build(src: Path, out: Path) -> Path:
    gomod = (src / "go.mod").read_text()
    m = re.search(r"^go\s+(\S+)", gomod, re.M)
    need = f"Go {m.group(1)} or newer" if m else "Go"
    go = shutil.which("go")
    if go is None:
        raise SystemExit(
            "ffitel: building from source compiles libffitel.so with Go, and `go` is not on PATH. "
            "Install a prebuilt wheel instead (pip install ffitel-<version>-py3-none-manylinux_2_17_x86_64.whl; "
            f"pip picks it by itself from an index on x86_64 Linux), or install {need} "
            "(https://go.dev/dl/) and retry."
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    exports = src / "cshim" / "exports.map"
    cmd = [go, "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false",
           f"-ldflags=-s -w -extldflags=-Wl,--version-script={exports}", "-o", str(out), "./cshim"]
    print("ffitel: building libffitel.so:", " ".join(cmd), flush=True)
    env = dict(os.environ, CGO_ENABLED="1")
    if subprocess.run(cmd, cwd=src, env=env).returncode != 0:
        raise SystemExit(f"ffitel: `go build` of libffitel.so failed in {src} (its output is above).")
    return out


def _library(build_temp: Path) -> Path:
    env = os.environ.get("FFITEL_LIBRARY")
    if env:
        if not Path(env).is_file():
            raise SystemExit(f"ffitel: FFITEL_LIBRARY={env} is not a file.")
        return Path(env)
    if not (HERE / "go").is_dir():
        built = HERE.parent / "build" / "libffitel.so"
        if built.is_file():
            return built
    return _go_build(_go_sources(), build_temp / "libffitel.so")


class BuildPyWithLibrary(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "ffitel" / "lib"
        target.mkdir(parents=True, exist_ok=True)
        temp = Path(self.get_finalized_command("build").build_temp).resolve()
        shutil.copyfile(_library(temp), target / "libffitel.so")
        os.chmod(target / "libffitel.so", 0o755)


class BdistWheelPy3(bdist_wheel):
    """py3-none-<platform>: any CPython 3, this platform."""

    def finalize_options(self) -> None:
        super().finalize_options()
        self.root_is_pure = False

    def get_tag(self):  # type: ignore[no-untyped-def]
        _, _, plat = super().get_tag()
        return "py3", "none", os.environ.get("FFITEL_WHEEL_PLAT") or plat


class BinaryDistribution(Distribution):
    def has_ext_modules(self) -> bool:  # installs into platlib: it carries a .so
        return True


setup(
    cmdclass={"build_py": BuildPyWithLibrary, "bdist_wheel": BdistWheelPy3},
    distclass=BinaryDistribution,
)

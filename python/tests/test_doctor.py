"""The ABI check at load and `python -m ffitel doctor`, in real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import Collector, library, run_worker, worker_env

FAKE_LIB_C = """
const char *ffitel_version(void) { return "9.9.9"; }
int ffitel_abi_version(void) { return 999; }
"""


def build_fake_library(tmp_path: Path) -> Path:
    """A shared library that exports ffitel_version and ffitel_abi_version
    (returning 999) and nothing else."""
    src = tmp_path / "fake.c"
    src.write_text(FAKE_LIB_C)
    out = tmp_path / "libffitel.so"
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(out), str(src)], check=True)
    return out


def test_a_library_of_another_abi_version_is_refused_with_one_clear_error(tmp_path: Path) -> None:
    fake = build_fake_library(tmp_path)
    proc = run_worker("""
        import ffitel
        try:
            ffitel.init_console()
        except ffitel.Error as exc:
            print('Error:', exc)
        ffitel.info('still logs')
    """, env={"FFITEL_LIBRARY": str(fake)})
    errors = [line for line in proc.stdout.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, proc.stdout
    msg = errors[0]
    assert str(fake) in msg
    assert "ABI version 999" in msg and "needs ABI version 1" in msg, msg
    assert "9.9.9" in msg
    assert "still logs" in proc.stderr


def test_the_real_library_passes_the_abi_check() -> None:
    proc = run_worker("""
        import ffitel, ffitel._native as n
        native = n.load()
        print(native.abi_version(), n.ABI_VERSION)
    """)
    assert proc.stdout.split() == ["1", "1"]

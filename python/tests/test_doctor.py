"""The ABI check at load and `python -m ffitel doctor`, in real processes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from conftest import Collector, library, run_worker, wait_for, worker_env

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


SECRET = "SECRET123"


def run_doctor(env: dict, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m ffitel doctor` in a fresh process, outside the checkout."""
    return subprocess.run([sys.executable, "-m", "ffitel", "doctor"], env=worker_env(env),
                          capture_output=True, text=True, timeout=timeout, cwd="/")


def closed_port() -> int:
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens there now
    return port


def test_doctor_against_a_live_collector_reports_ok_for_every_signal(collector: Collector) -> None:
    env = dict(collector.env(), OTEL_SERVICE_NAME="pytest-doctor-ok",
               OTEL_EXPORTER_OTLP_HEADERS=f"authorization=Bearer {SECRET}")
    proc = run_doctor(env)
    out = proc.stdout
    assert proc.returncode == 0, out + proc.stderr[-3000:]
    for signal in ("logs", "traces", "metrics"):
        line = next(line for line in out.splitlines() if line.strip().startswith(signal + " "))
        assert " ok (" in line and " ms)" in line, line
        assert collector.endpoint in line
    assert f"library: {library().resolve()} (version " in out
    assert "result: ok" in out
    assert "service_name" in out and "pytest-doctor-ok" in out
    assert "pipeline stats:" in out
    assert SECRET not in out + proc.stderr
    assert "authorization=REDACTED" in out
    # The test items reached the Collector, with the worker's resource.
    svc = "pytest-doctor-ok"
    assert wait_for(lambda: any(r.get("body", {}).get("stringValue") == "ffitel doctor: test log record"
                                for r in collector.logs(svc))), "the test log record did not arrive"
    assert wait_for(lambda: any(s["name"] == "ffitel doctor" for s in collector.spans(svc))), \
        "the test span did not arrive"
    assert wait_for(lambda: any(m["name"] == "ffitel.doctor.checks" for m in collector.metrics(svc))), \
        "the test metric point did not arrive"


def test_doctor_against_a_closed_port_exits_1_within_the_bound_naming_the_endpoint() -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    # The export timeout is far longer than the bound: the doctor must stop
    # at FFITEL_SHUTDOWN_TIMEOUT_MS, not at the exporter's own timeout (the
    # 50 s guard of subprocess.run would then fail the test).
    proc = run_doctor({"TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                       "OTEL_EXPORTER_OTLP_TIMEOUT": "120000", "FFITEL_SHUTDOWN_TIMEOUT_MS": "1500",
                       "OTEL_EXPORTER_OTLP_HEADERS": f"x-api-key={SECRET}"}, timeout=50)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr[-3000:]
    assert "each bounded by 1500 ms" in out
    for signal in ("logs", "traces", "metrics"):
        line = next(line for line in out.splitlines() if line.strip().startswith(signal + " "))
        assert "FAILED" in line and endpoint in line, line
    assert f"did not reach {endpoint}" in out
    assert "connection refused" in out
    assert SECRET not in out + proc.stderr


def test_doctor_with_telemetry_disabled_exits_2_and_says_why() -> None:
    proc = run_doctor({"OTEL_EXPORTER_OTLP_HEADERS": f"authorization=Bearer {SECRET}"})
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    assert "export is off: TELEMETRY_ENABLED is not true" in proc.stdout
    assert SECRET not in proc.stdout + proc.stderr


def test_doctor_with_the_sdk_disabled_exits_2_and_says_why() -> None:
    proc = run_doctor({"TELEMETRY_ENABLED": "true", "OTEL_SDK_DISABLED": "true"})
    assert proc.returncode == 2, proc.stdout + proc.stderr[-3000:]
    assert "export is off: OTEL_SDK_DISABLED is true" in proc.stdout

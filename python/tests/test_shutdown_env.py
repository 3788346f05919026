"""shutdown() and flush() without a timeout take FFITEL_SHUTDOWN_TIMEOUT_MS,
the library's bound (issue #12), in a real worker process whose Collector is
unreachable, so the queued records cannot leave and only the bound ends the
call."""

from __future__ import annotations

import json
import socket

from conftest import run_worker


def _closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_shutdown_and_flush_without_timeout_use_the_environment_bound() -> None:
    proc = run_worker("""
        import json, time, ffitel
        from ffitel import _state
        ffitel.init_telemetry()
        lib = _state.lib
        passed = []  # what the binding hands the C ABI (-1: the library's env bound)
        for name in ("flush", "shutdown"):
            real = getattr(lib, name)
            setattr(lib, name, lambda ms, real=real, name=name: (passed.append((name, ms)),
                                                                 real(ms))[1])
        for i in range(5000):
            ffitel.info("queued for an unreachable collector", i=i)
        with ffitel.span("queued span"):
            pass
        t0 = time.monotonic()
        flushed = ffitel.flush()
        t1 = time.monotonic()
        shut = ffitel.shutdown()
        t2 = time.monotonic()
        print(json.dumps({"flushed": flushed, "shut": shut, "passed": passed,
                          "flush_s": t1 - t0, "shutdown_s": t2 - t1,
                          "pipeline": ffitel.stats()["pipeline"]}))
    """, env={"TELEMETRY_ENABLED": "true",
              "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{_closed_port()}",
              "FFITEL_SHUTDOWN_TIMEOUT_MS": "300",
              "OTEL_SERVICE_NAME": "pytest-shutdown-env"})
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    # the library's own bound, from the environment, not a fixed Python default
    assert result["passed"] == [["flush", -1], ["shutdown", -1]]
    assert "shutdown_timeout=300ms" in proc.stderr, proc.stderr[-2000:]
    # the collector is unreachable, so only the deadline ended both calls
    assert result["flushed"] is False and result["shut"] is False
    logs = result["pipeline"]["logs"]
    assert logs["exported"] == 0 and logs["dropped"] + logs["failed"] == logs["emitted"]
    # A generous ceiling, not a timing test: the old fixed default (5.0 s)
    # could not return before its own deadline.
    assert result["flush_s"] < 4.5 and result["shutdown_s"] < 4.5, result


def test_an_explicit_timeout_still_wins() -> None:
    proc = run_worker("""
        import ffitel
        from ffitel import _state
        ffitel.init_console()
        passed = []
        real = _state.lib.shutdown
        _state.lib.shutdown = lambda ms: (passed.append(ms), real(ms))[1]
        assert ffitel.shutdown(timeout=0.25)
        print(passed)
    """, env={"FFITEL_SHUTDOWN_TIMEOUT_MS": "300"})
    assert proc.stdout.strip() == "[250]"

"""Process CPU per call of Python's span paths in a tight loop (the numbers
docs/PERFORMANCE.md gives for "Python's ffitel.span on the API span's
path"): ``ffitel.span`` and an OpenTelemetry API span through ffitel, each
with three attributes, the raw start/end pair through typed ctypes and
through the library's built-ins, and ``ffitel.info`` for scale. Run with
export off so only the calls count:

    TELEMETRY_ENABLED=true OTEL_TRACES_EXPORTER=none OTEL_LOGS_EXPORTER=none \\
      OTEL_METRICS_EXPORTER=none FFITEL_LOG_OUTPUT=none PYTHONPATH=python/src \\
      FFITEL_LIBRARY=build/libffitel.so python3 python/bench/bench_span_paths.py

``FFITEL_OTEL_API=off`` leaves the OpenTelemetry API bridge out (its row
is then skipped).
"""

from __future__ import annotations

import sys
import time
from typing import Callable

import ffitel
from ffitel import _state
from ffitel._attrs import encode

N = 50000
ATTRS = {"order_id": 1, "user": "bob", "ok": True}


def per_call(fn: Callable[[], object]) -> float:
    t0 = time.process_time()
    for _ in range(N):
        fn()
    return (time.process_time() - t0) / N * 1e6


def main() -> None:
    ffitel.init_telemetry()
    lib = _state.library()
    if lib is None or lib.span_start_native is None:
        sys.exit("bench_span_paths: the library's built-ins are not available here")
    name, a, scope = b"charged card", encode(ATTRS), b"github.com/ffitel/ffitel"

    def ffitel_span() -> None:
        with ffitel.span("charged card", attributes=ATTRS):
            pass

    def ctypes_pair() -> None:
        lib.span_end(lib.span_start(name, len(name), 0, None, 0, a, len(a), 0), 1, None, 0)

    def builtin_pair() -> None:
        lib.span_end_native(lib.span_start_native(scope, "charged card", 0, None, a, 0, 0, None)[0], 0, None, 0)

    rows = [("ffitel.span", ffitel_span), ("start + end, typed ctypes", ctypes_pair),
            ("start + end, built-ins", builtin_pair),
            ("ffitel.info", lambda: ffitel.info("charged card", **ATTRS))]
    try:
        from opentelemetry import trace
        tracer = trace.get_tracer("bench")

        def api_span() -> None:
            with tracer.start_as_current_span("charged card", attributes=ATTRS):
                pass
        rows.insert(1, ("OpenTelemetry API start_as_current_span", api_span))
    except ImportError:
        pass
    for _round in range(2):
        for label, fn in rows:
            print(f"{label}: {per_call(fn):.2f} us per call (process CPU)", flush=True)
    ffitel.shutdown()


if __name__ == "__main__":
    main()

"""Domain-event publishes per second from Python, per delivery path, through
the library (span, metrics, routing). Run by the Go benchmark
BenchmarkPublishFromPython (e2e/events_bench_test.go), which starts a real
PostgreSQL and sets FFITEL_EVENTS_DURABLE_URL before this process starts.

    python3 python/bench/bench_events.py N fast durable broadcast
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import ffitel  # noqa: E402


def main() -> None:
    n = int(sys.argv[1])
    ffitel.init_telemetry()  # opens the durable sink
    with ffitel.subscribe("*") as sub:
        for mode in sys.argv[2:]:
            t0 = time.perf_counter()
            for i in range(n):
                ffitel.publish_event("payment.processed", {"amount": 5, "i": i}, namespace="bench",
                                     correlation_id="corr-bench", delivery=mode)
                if i % 512 == 0:
                    sub.poll(timeout=0)  # keep the subscriber's queue from overflowing
            elapsed = time.perf_counter() - t0
            print(f"{mode} {n / elapsed:.0f}")
    ffitel.shutdown()


if __name__ == "__main__":
    main()

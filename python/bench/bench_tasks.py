"""Overhead of an empty task attempt (ffitel.task: consumer span, carrier,
the two messaging metrics) beside an empty span, from Python, in phase 2.

    FFITEL_LOG_OUTPUT=none python3 python/bench/bench_tasks.py [N]
"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import ffitel  # noqa: E402


def bench(label: str, fn, n: int) -> float:
    for _ in range(n // 10):  # warm-up
        fn()
    t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
    for _ in range(n):
        fn()
    wall, cpu = (time.perf_counter_ns() - t0) / n, (time.thread_time_ns() - c0) / n
    print(f"{label:<34} {wall:>10.0f} {cpu:>12.0f}")
    return cpu


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    ffitel.init_telemetry()
    with ffitel.send("SendReport"):
        carrier = ffitel.inject()

    def empty_span():
        with ffitel.span("empty", kind="consumer"):
            pass

    def empty_task():
        with ffitel.task("SendReport", worker="bench", task_id="t", attempt=1, carrier=carrier):
            pass

    print(f"Python {sys.version.split()[0]}, {n} iterations, phase 2")
    print(f"{'case':<34} {'wall ns':>10} {'CPU ns':>12}")
    span_cpu = bench("ffitel.span (empty)", empty_span, n)
    task_cpu = bench("ffitel.task (empty, with metrics)", empty_task, n)
    print(f"task / span (CPU): {task_cpu / span_cpu:.2f}x")
    ffitel.shutdown()


if __name__ == "__main__":
    main()

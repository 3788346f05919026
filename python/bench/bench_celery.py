"""Per-job overhead of ffitel.celery: an empty Celery task published
(apply_async, through kombu's in-memory broker: Celery's whole publish path,
no network) and executed (apply: Celery's tracer with its prerun/postrun
signals, as a pool process runs it), uninstrumented and instrumented, in
phase 2. Rounds interleave the two; medians are printed.

    FFITEL_LOG_OUTPUT=none python3 python/bench/bench_celery.py [N]
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "src"))
import ffitel  # noqa: E402
import ffitel.celery  # noqa: E402
from celery import Celery  # noqa: E402

app = Celery("bench", broker="memory://")
app.conf.update(task_default_queue="bench", task_ignore_result=True)


@app.task(name="bench.empty")
def empty() -> None:
    pass


def per_call_cpu(fn, n: int) -> float:
    c0 = time.thread_time_ns()
    for _ in range(n):
        fn()
    return (time.thread_time_ns() - c0) / n


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 5000
    rounds = 3
    ffitel.init_telemetry()
    with app.producer_or_acquire() as producer:
        def publish() -> None:
            empty.apply_async(producer=producer)

        def execute() -> None:
            empty.apply()

        publish(), execute()  # warm-up: connections, caches
        results = {(case, on): [] for case in ("publish", "execute") for on in (False, True)}
        for _ in range(rounds):
            for on in (False, True):
                if on:
                    ffitel.celery.instrument(app)
                else:
                    ffitel.celery.uninstrument()
                with ffitel.span("bench round"):
                    results[("publish", on)].append(per_call_cpu(publish, n))
                results[("execute", on)].append(per_call_cpu(execute, n))
                app.connection_for_write().default_channel.queue_purge("bench")
    print(f"Python {sys.version.split()[0]}, Celery {__import__('celery').__version__}, "
          f"{n} jobs x {rounds} rounds, CPU ns per job (median)")
    print(f"{'case':<10} {'plain':>10} {'ffitel':>10} {'overhead':>10}")
    total = [0.0, 0.0]
    for case in ("publish", "execute"):
        plain = statistics.median(results[(case, False)])
        inst = statistics.median(results[(case, True)])
        total[0] += plain
        total[1] += inst
        print(f"{case:<10} {plain:>10.0f} {inst:>10.0f} {inst - plain:>+10.0f}")
    print(f"{'job':<10} {total[0]:>10.0f} {total[1]:>10.0f} {total[1] - total[0]:>+10.0f} "
          f"({total[1] / total[0]:.2f}x)")
    ffitel.shutdown()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Groups the samples of a `perf record -g` profile of a Go worker by the
stack they sit in (GC, host goroutine, export goroutine, gRPC transport,
sysmon, scheduler, pacing loop, other) and prints milliseconds per group:
the "where the ffitel logs worker's CPU goes" table of docs/PERFORMANCE.md,
session 6. A group is the first rule, in this order, that matches any frame
of the sample.

    go build -o /tmp/exportcpu ./e2e/cmd/exportcpu
    go run ./e2e/cmd/withcollector sh -c 'TELEMETRY_ENABLED=true OTEL_SERVICE_NAME=exportcpu \\
        OTEL_METRICS_EXPORTER=none FFITEL_LOG_OUTPUT=none OTEL_TRACES_EXPORTER=none \\
        perf record -F 4999 -g -o /tmp/perf.logs /tmp/exportcpu -child logs-ffitel:run -tag x -n 100000 -rate 10000'
    python3 scripts/perf_by_stack.py /tmp/perf.logs

With --below FUNC it prints instead where the samples under FUNC (a
function name ending, e.g. '(*tracer).Start') go: the function FUNC calls
in each of them, or (self) (the session 8 breakdowns of PERFORMANCE.md):

    python3 scripts/perf_by_stack.py /tmp/perf.spans 9999 --below '(*tracer).Start'
"""

import collections
import re
import subprocess
import sys

RULES = [
    ("gc", re.compile(r"gcBgMarkWorker|bgsweep|bgscavenge|gcAssist|markroot|gcDrain")),
    ("host", re.compile(r"main\.newPipeline\.func|main\.emitSpan|main\.sdkPipeline\.func")),
    ("export", re.compile(r"batcher.*\)\.run$|batchSpanProcessor|BatchProcessor")),
    ("grpc", re.compile(r"grpc")),
    ("sysmon", re.compile(r"runtime\.sysmon")),
    ("sched", re.compile(r"runtime\.schedule$|runtime\.findRunnable|runtime\.mcall|runtime\.park_m|"
                         r"runtime\.gosched|runtime\.goexit0|runtime\.mstart")),
    ("pacing", re.compile(r"main\.runChild")),
]


def frames_of(block: str) -> list:
    lines = [line.strip() for line in block.strip().split("\n") if line.strip()]
    return [line.split(None, 1)[1] if len(line.split(None, 1)) > 1 else line for line in lines[1:]]


def below(out: str, func: str, freq: float) -> None:
    """Samples under func, by the function it calls in them (the callee
    frame next to its outermost occurrence), or (self)."""
    callees: collections.Counter = collections.Counter()
    for block in out.split("\n\n"):
        names = [f.split(" ")[0] for f in frames_of(block)]
        at = [i for i, n in enumerate(names) if n.endswith(func)]
        if not at:
            continue
        i = at[-1]
        callees[names[i - 1] if i > 0 else "(self)"] += 1
    total = sum(callees.values())
    print(f"{func}: {total} samples {total / freq * 1000:.1f} ms")
    for name, n in callees.most_common(15):
        print(f"{n:6d} {n / freq * 1000:8.1f} ms  {name[:110]}")


def main() -> None:
    path = sys.argv[1]
    freq = float(sys.argv[2]) if len(sys.argv) > 2 and not sys.argv[2].startswith("--") else 4999  # perf record -F
    out = subprocess.run(["perf", "script", "-i", path, "-F", "comm,tid,ip,sym"],
                         capture_output=True, text=True, check=True).stdout
    if "--below" in sys.argv:
        below(out, sys.argv[sys.argv.index("--below") + 1], freq)
        return
    groups: collections.Counter = collections.Counter()
    for block in out.split("\n\n"):
        if not block.strip():
            continue
        frames = frames_of(block)
        group = next((name for name, rx in RULES if any(rx.search(f) for f in frames)), "other")
        groups[group] += 1
    for name, n in groups.most_common():
        print(f"{name:8s} {n:6d} samples {n / freq * 1000:8.1f} ms")
    total = sum(groups.values())
    print(f"{'total':8s} {total:6d} samples {total / freq * 1000:8.1f} ms")


if __name__ == "__main__":
    main()

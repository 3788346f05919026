"""Total process CPU per delivered log record, and per delivered span, for
a paced worker: Python with ffitel.info / ffitel.span, Ruby with
Ffitel.info / Ffitel.span, beside the OpenTelemetry Python SDK's
LoggingHandler (BatchLogRecordProcessor) and tracer (BatchSpanProcessor),
both with the OTLP gRPC exporter.

    python3 python/bench/bench_worker_export.py [--records N] [--rate R] [--rounds K] [--signal logs|spans]

Each case runs in its own process and logs N records (or ends N spans) with three attributes,
paced at R records per second (default 10 000/s, in 100 steps a second) so
that no queue overflows, then flushes and shuts down. "CPU" is the whole
process's CPU (every thread: the host loop, ffitel's Go export goroutines
or the SDK's batch thread) from the first record to the end of shutdown,
divided by the records the real Collector wrote for the case's service
name: what a record costs a worker, export included. The pacing floor row
is the same loop logging nothing. Rounds are interleaved; the median round
is shown. Needs `make build`, `make collector` and the packages of
scripts/install-deps.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_otel_api import REPO, start_collector  # noqa: E402

CASES = {
    "logs": ["(pacing loop alone, Python)", "Python ffitel.info", "Ruby Ffitel.info",
             "Python otel-sdk LoggingHandler"],
    "spans": ["Python ffitel.span", "Ruby Ffitel.span", "Python otel-sdk span"],
}
SDK = {"logs": "Python otel-sdk LoggingHandler", "spans": "Python otel-sdk span"}

RUBY_CHILD = r"""
require "ffitel"
n, rate, spans = Integer(ARGV[0]), Integer(ARGV[1]), ARGV[2] == "spans"
Ffitel.init_telemetry
clock = Process::CLOCK_PROCESS_CPUTIME_ID
per = [rate / 100, 1].max
cpu0 = Process.clock_gettime(clock)
t = Process.clock_gettime(Process::CLOCK_MONOTONIC)
i = 0
while i < n
  t += 0.01
  d = t - Process.clock_gettime(Process::CLOCK_MONOTONIC)
  sleep(d) if d > 0
  per.times do
    break if i >= n
    if spans
      Ffitel.span("charged card", attributes: {order_id: i, user: "bob", ok: true}) { }
    else
      Ffitel.info("charged card", order_id: i, user: "bob", ok: true)
    end
    i += 1
  end
end
Ffitel.shutdown(timeout: 30)
puts JSON.generate({"cpu_s" => Process.clock_gettime(clock) - cpu0, "emitted" => n})
"""


def count_delivered(out: Path, signal: str) -> Dict[str, int]:
    """Records with the benchmark's body (spans with its name) the Collector
    wrote, per service (ffitel's own start-up records are not counted)."""
    counts: Dict[str, int] = {}
    path = out / ("logs.jsonl" if signal == "logs" else "traces.jsonl")
    if not path.exists():
        return counts
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                continue
            doc = json.loads(line)
            for rl in doc.get("resourceLogs", []) + doc.get("resourceSpans", []):
                service = next((a["value"].get("stringValue") for a in rl["resource"].get("attributes", [])
                                if a["key"] == "service.name"), "?")
                n = sum(1 for sl in rl.get("scopeLogs", []) for r in sl.get("logRecords", [])
                        if r.get("body", {}).get("stringValue") == "charged card")
                n += sum(1 for ss in rl.get("scopeSpans", []) for r in ss.get("spans", [])
                         if r.get("name") == "charged card")
                counts[service] = counts.get(service, 0) + n
    return counts


def python_child(case: str, n: int, rate: int) -> Dict[str, Any]:
    import logging
    finish = None
    if case == SDK["spans"]:
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        tp = TracerProvider(resource=Resource.create({}))  # OTEL_SERVICE_NAME
        tp.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(insecure=True), max_queue_size=16384))
        tracer = tp.get_tracer("bench")

        def one(i: int) -> None:
            with tracer.start_as_current_span("charged card", attributes={"order_id": i, "user": "bob", "ok": True}):
                pass

        def finish() -> None:
            tp.force_flush(30_000)
            tp.shutdown()
    elif case == "Python ffitel.span":
        import ffitel
        ffitel.init_telemetry()

        def one(i: int) -> None:
            with ffitel.span("charged card", attributes={"order_id": i, "user": "bob", "ok": True}):
                pass

        def finish() -> None:
            ffitel.flush(30)
            ffitel.shutdown(30)
    elif case == SDK["logs"]:
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        provider = LoggerProvider(resource=Resource.create({}))  # OTEL_SERVICE_NAME
        # A queue deep enough that paced records are not dropped.
        provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter(insecure=True),
                                                                  max_queue_size=16384))
        log = logging.getLogger("bench")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(LoggingHandler(logger_provider=provider))

        def one(i: int) -> None:
            log.info("charged card", extra={"order_id": i, "user": "bob", "ok": True})

        def finish() -> None:
            provider.force_flush(30_000)
            provider.shutdown()
    elif case == "Python ffitel.info":
        import ffitel
        ffitel.init_telemetry()

        def one(i: int) -> None:
            ffitel.info("charged card", order_id=i, user="bob", ok=True)

        def finish() -> None:
            ffitel.flush(30)
            ffitel.shutdown(30)
    else:
        def one(i: int) -> None:
            pass
    per = max(rate // 100, 1)
    cpu0 = time.process_time()
    t = time.monotonic()
    i = 0
    while i < n:
        t += 0.01
        d = t - time.monotonic()
        if d > 0:
            time.sleep(d)
        for _ in range(per):
            if i >= n:
                break
            one(i)
            i += 1
    if finish is not None:
        finish()
    return {"cpu_s": time.process_time() - cpu0, "emitted": n}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--rate", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--signal", choices=["logs", "spans"], help="one table only")
    p.add_argument("--case")
    p.add_argument("--out", default=str(REPO / ".cache" / "bench-worker-export"))
    args = p.parse_args()
    if args.case:
        print(json.dumps(python_child(args.case, args.records, args.rate)))
        return
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    collector, endpoint = start_collector(out)
    signals = [args.signal] if args.signal else ["logs", "spans"]
    cases = [(signal, case) for signal in signals for case in CASES[signal]]
    services = {case: f"bench-worker-{uuid.uuid4().hex[:6]}" for _, case in cases}
    runs: Dict[str, List[Dict[str, Any]]] = {case: [] for _, case in cases}
    try:
        for rnd in range(args.rounds):
            for signal, case in cases:
                svc = f"{services[case]}-{rnd}"
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith(("OTEL_", "TELEMETRY_", "FFITEL_", "LOG_LEVEL"))}
                env.update({
                    "PYTHONPATH": str(REPO / "python" / "src") + os.pathsep + env.get("PYTHONPATH", ""),
                    "TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                    "OTEL_SERVICE_NAME": svc, "LOG_LEVEL": "info", "FFITEL_LOG_OUTPUT": "none",
                    "FFITEL_OTEL_API": "off",
                })
                if "FFITEL_LIBRARY" in os.environ:
                    env["FFITEL_LIBRARY"] = os.environ["FFITEL_LIBRARY"]
                if case.startswith("Ruby"):
                    cmd = ["ruby", "-I" + str(REPO / "ruby" / "lib"), "-rjson", "-e", RUBY_CHILD,
                           str(args.records), str(args.rate), signal]
                else:
                    cmd = [sys.executable, __file__, "--case", case, "--records", str(args.records),
                           "--rate", str(args.rate)]
                proc = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True, timeout=900)
                if proc.returncode != 0:
                    raise SystemExit(f"{case} failed:\n{proc.stderr}")
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                row["service"] = svc
                runs[case].append(row)
                print(f"  round {rnd + 1}/{args.rounds} {case}: {row['cpu_s'] / args.records * 1e6:.2f} "
                      f"CPU us/record (per emitted)", file=sys.stderr)
        time.sleep(2)  # the Collector's file exporter flushes
    finally:
        collector.terminate()
        collector.wait(timeout=30)
    print(f"\n{args.records} records (or spans) per case and round, 3 attributes, paced at {args.rate}/s, "
          f"{args.rounds} round(s) (median shown), real Collector over OTLP/gRPC, {os.cpu_count()} CPUs")
    for signal in signals:
        delivered = count_delivered(out, signal)
        rows = []
        for case in CASES[signal]:
            per_run = []
            for r in runs[case]:
                d = delivered.get(r["service"], 0)
                per_run.append((r["cpu_s"] / max(d, 1) * 1e6 if not case.startswith("(") else
                                r["cpu_s"] / args.records * 1e6, d))
            per_run.sort()
            us, d = per_run[len(per_run) // 2]
            rows.append((case, us, d, [round(x[0], 2) for x in per_run]))
        sdk = next(us for case, us, _, _ in rows if case == SDK[signal])
        what = "record" if signal == "logs" else "span"
        print(f"\n| worker ({signal}) | CPU per delivered {what} | delivered | ratio to the Python SDK | rounds |")
        print("|---|---|---|---|---|")
        for case, us, d, all_runs in rows:
            if case.startswith("("):
                print(f"| {case} | {us:.2f} µs | – |  | {all_runs} |")
            else:
                print(f"| {case} | {us:.2f} µs | {d} / {args.records} | {us / sdk:.2f}× | {all_runs} |")

if __name__ == "__main__":
    main()

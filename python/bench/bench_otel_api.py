"""An empty OpenTelemetry API span through ffitel, beside ffitel.span and the
OpenTelemetry Python SDK (BatchSpanProcessor + OTLP gRPC exporter): host CPU
per span and spans delivered to a real Collector.

    python3 python/bench/bench_otel_api.py [--spans N] [--rounds R]

Each case runs in its own process: N empty spans from the main thread
(``tracer.start_as_current_span(...)`` + end, or ``with ffitel.span(...)``),
then a flush and shutdown. "CPU us/span" is time.process_time() of the whole
process (every thread: the Go exporter, the SDK's batch thread) from the
first span to the end of the shutdown, divided by N: what a span costs the
host, export included. "loop" is the same for the loop alone. The parent
counts the spans the Collector wrote for each case's service name. Needs
`make build`, `make collector` and the packages of scripts/install-deps.sh.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any, Dict, List

REPO = Path(__file__).resolve().parents[2]
CASES = ["otel-api via ffitel", "ffitel.span", "otel-api via ffitel, unsampled",
         "otel-sdk Batch+OTLP"]
SDK = "otel-sdk Batch+OTLP"


def run_case(case: str, n: int) -> Dict[str, Any]:
    if case == SDK:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        provider = TracerProvider(resource=Resource.create({}))
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(insecure=True)))
        trace.set_tracer_provider(provider)
        tracer = trace.get_tracer("bench")

        def one() -> None:
            with tracer.start_as_current_span("empty"):
                pass

        def finish() -> None:
            provider.force_flush(30_000)
            provider.shutdown()
    else:
        import ffitel
        ffitel.init_telemetry()  # registers ffitel.opentelemetry (FFITEL_OTEL_API=auto)
        if case == "ffitel.span":
            def one() -> None:
                with ffitel.span("empty"):
                    pass
        else:
            from opentelemetry import trace
            tracer = trace.get_tracer("bench")

            def one() -> None:
                with tracer.start_as_current_span("empty"):
                    pass

        def finish() -> None:
            ffitel.flush(30)
            ffitel.shutdown(30)

    for _ in range(min(n // 10, 2000)):  # warm up; counted as sent
        one()
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        one()
    loop_cpu, loop_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    finish()
    total_cpu = time.process_time() - cpu0
    return {"us_cpu": total_cpu / n * 1e6, "us_loop": loop_cpu / n * 1e6,
            "us_wall": loop_wall / n * 1e6, "sent": n + min(n // 10, 2000)}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_collector(out: Path) -> tuple:
    binary = Path(os.environ.get("FFITEL_OTELCOL", REPO / ".cache/otelcol/otelcol-ffitel"))
    if not binary.is_file():
        raise SystemExit(f"the OpenTelemetry Collector is missing at {binary}: run `make collector`")
    grpc, http = free_port(), free_port()
    proc = subprocess.Popen(
        [str(binary), "--config", str(REPO / "e2e/collector/config.yaml")],
        env=dict(os.environ, FFITEL_COLLECTOR_OUT=str(out), FFITEL_COLLECTOR_GRPC_PORT=str(grpc),
                 FFITEL_COLLECTOR_HTTP_PORT=str(http)),
        stdout=subprocess.DEVNULL, stderr=open(out / "collector.log", "wb"))
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", grpc), 0.2).close()
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the Collector did not start: " + (out / "collector.log").read_text())
            time.sleep(0.05)
    return proc, f"http://127.0.0.1:{grpc}"


def count_spans(out: Path) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    path = out / "traces.jsonl"
    if not path.exists():
        return counts
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                continue
            for rs in json.loads(line).get("resourceSpans", []):
                service = next((a["value"].get("stringValue") for a in rs["resource"].get("attributes", [])
                                if a["key"] == "service.name"), "?")
                n = sum(len(ss.get("spans", [])) for ss in rs.get("scopeSpans", []))
                counts[service] = counts.get(service, 0) + n
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--spans", type=int, default=20_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--case")
    p.add_argument("--out", default=str(REPO / ".cache" / "bench-otel-api"))
    args = p.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.spans)))
        return
    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    collector, endpoint = start_collector(out)
    services = {case: f"bench-otel-{uuid.uuid4().hex[:6]}" for case in CASES}
    runs: Dict[str, List[Dict[str, Any]]] = {case: [] for case in CASES}
    try:
        for rnd in range(args.rounds):  # cases interleaved: the machine's speed drifts
            for case in CASES:
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith(("OTEL_", "TELEMETRY_", "FFITEL_", "LOG_LEVEL"))}
                env.update({
                    "PYTHONPATH": str(REPO / "python" / "src") + os.pathsep + env.get("PYTHONPATH", ""),
                    "TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                    "OTEL_SERVICE_NAME": services[case], "LOG_LEVEL": "info",
                    "FFITEL_LOG_OUTPUT": "none",
                })
                if "FFITEL_LIBRARY" in os.environ:
                    env["FFITEL_LIBRARY"] = os.environ["FFITEL_LIBRARY"]
                if case.endswith("unsampled"):
                    env["OTEL_TRACES_SAMPLER"] = "always_off"
                proc = subprocess.run([sys.executable, __file__, "--case", case, "--spans", str(args.spans)],
                                      env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                      timeout=600)
                if proc.returncode != 0:
                    raise SystemExit(f"case {case} failed ({proc.returncode}): {proc.stderr[-2000:]}")
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[case].append(row)
                print(f"  round {rnd + 1}/{args.rounds} {case}: {row['us_cpu']:.1f} CPU us/span",
                      file=sys.stderr)
        time.sleep(1.5)  # the file exporter flushes every 100 ms
    finally:
        collector.send_signal(signal.SIGINT)
        collector.wait(20)
    delivered = count_spans(out)
    rows = []
    for case in CASES:
        by_cpu = sorted(runs[case], key=lambda r: r["us_cpu"])
        row = dict(by_cpu[len(by_cpu) // 2])
        row["case"] = case
        row["sent"] = sum(r["sent"] for r in runs[case])
        row["delivered"] = delivered.get(services[case], 0)
        row["all"] = [round(r["us_cpu"], 1) for r in runs[case]]
        rows.append(row)
    sdk = next(r["us_cpu"] for r in rows if r["case"] == SDK)
    print(f"\nPython {sys.version.split()[0]}, {args.spans} empty spans per case and round, "
          f"{args.rounds} rounds (median round shown), {os.cpu_count()} CPUs\n")
    header = (f"{'case':<32} {'CPU us/span':>11} {'loop':>7} {'wall':>7} {'sdk/x':>6} "
              f"{'sent':>8} {'delivered':>10}  CPU us of each round")
    print(header)
    print("-" * len(header))
    for r in rows:
        print(f"{r['case']:<32} {r['us_cpu']:>11.1f} {r['us_loop']:>7.1f} {r['us_wall']:>7.1f} "
              f"{sdk / r['us_cpu']:>5.1f}x {r['sent']:>8} {r['delivered']:>10}  {r['all']}")
    print("\nCPU us/span: process CPU (all threads) from the first span through flush and shutdown, "
          "per span; loop: the same for the loop alone; wall: wall time per span in the loop; "
          "sdk/x: how many times cheaper than the OpenTelemetry SDK. An unsampled span is "
          "never delivered (0 is right).")


if __name__ == "__main__":
    main()

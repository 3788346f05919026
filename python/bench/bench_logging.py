"""Side-by-side cost of logging a record from Python, and what reaches a real Collector.

    python/bench/run.sh            # creates the bench-only venv, then runs this

Each case runs in its own process (the library reads its environment once,
at load), logs N records from the main thread, measures the host thread's
time per record, then flushes and shuts down. The parent counts what the
Collector wrote for that case's service name. The OpenTelemetry Python SDK
case needs opentelemetry-sdk and opentelemetry-exporter-otlp-proto-grpc,
which only the bench virtualenv has; ffitel itself never depends on them.

Console output (ffitel's console handler, the StreamHandler case) goes to
/dev/null, so every case pays for formatting and a write, none for a terminal.
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
from typing import Any, Callable, Dict, List

REPO = Path(__file__).resolve().parents[2]
CASES = ["ffitel.info", "ffitel.info (no attrs)", "ffitel.LoggingHandler",
         "logging.StreamHandler", "otel-sdk LoggingHandler", "logging.NullHandler"]
BASELINE = "logging.StreamHandler"


# --- one case, in a child process ---------------------------------------------------


def _loop(n: int, call: Callable[[int], None]) -> Dict[str, float]:
    for i in range(min(n, 2000)):  # warm up (loads the library, builds caches)
        call(i)
    wall0, cpu0 = time.perf_counter(), time.thread_time()
    for i in range(n):
        call(i)
    wall, cpu = time.perf_counter() - wall0, time.thread_time() - cpu0
    return {"ns_wall": wall / n * 1e9, "ns_cpu": cpu / n * 1e9, "emitted": n + min(n, 2000)}


def run_case(case: str, n: int, endpoint: str) -> Dict[str, Any]:
    import logging
    extra = {"order_id": 42, "user": "bob", "ok": True}
    if case.startswith("ffitel"):
        import ffitel
        ffitel.init_telemetry()
        if case == "ffitel.info":
            result = _loop(n, lambda i: ffitel.info("charged card", order_id=i, user="bob", ok=True))
        elif case == "ffitel.info (no attrs)":
            result = _loop(n, lambda i: ffitel.info("charged card"))
        else:
            log = logging.getLogger("bench")
            log.propagate = False
            log.setLevel(logging.INFO)
            log.addHandler(ffitel.LoggingHandler())
            result = _loop(n, lambda i: log.info("charged card", extra=extra))
        t0 = time.perf_counter()
        result["flushed"] = ffitel.shutdown(timeout=30.0)
        result["shutdown_s"] = time.perf_counter() - t0
        logs = ffitel.stats()["pipeline"]["logs"]
        result["stats"] = logs
        return result
    if case == "logging.NullHandler":
        # The floor every logging handler stands on: the logger, the
        # LogRecord, the handler call; nothing written.
        log = logging.getLogger("bench")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(logging.NullHandler())
        result = _loop(n, lambda i: log.info("charged card", extra=extra))
        result["emitted"] = 0
        return result
    if case == "logging.StreamHandler":
        log = logging.getLogger("bench")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(logging.StreamHandler(open(os.devnull, "w")))
        result = _loop(n, lambda i: log.info("charged card", extra=extra))
        result["emitted"] = 0  # nothing is sent anywhere
        return result
    if case == "otel-sdk LoggingHandler":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
        from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
        from opentelemetry.sdk.resources import Resource
        provider = LoggerProvider(resource=Resource.create({}))  # OTEL_SERVICE_NAME
        provider.add_log_record_processor(
            BatchLogRecordProcessor(OTLPLogExporter(endpoint=endpoint, insecure=True)))
        log = logging.getLogger("bench")
        log.propagate = False
        log.setLevel(logging.INFO)
        log.addHandler(LoggingHandler(logger_provider=provider))
        result = _loop(n, lambda i: log.info("charged card", extra=extra))
        t0 = time.perf_counter()
        provider.force_flush(30_000)
        provider.shutdown()
        result["shutdown_s"] = time.perf_counter() - t0
        return result
    raise SystemExit(f"unknown case {case}")


# --- the Collector and the table, in the parent ------------------------------------


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


def count_delivered(out: Path) -> Dict[str, int]:
    counts: Dict[str, int] = {}
    path = out / "logs.jsonl"
    if not path.exists():
        return counts
    with open(path, "rb") as f:
        for line in f:
            if not line.endswith(b"\n"):
                continue
            for rl in json.loads(line).get("resourceLogs", []):
                service = next((a["value"].get("stringValue") for a in rl["resource"].get("attributes", [])
                                if a["key"] == "service.name"), "?")
                n = sum(len(sl.get("logRecords", [])) for sl in rl.get("scopeLogs", []))
                counts[service] = counts.get(service, 0) + n
    return counts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--records", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--case")
    p.add_argument("--endpoint", default="")
    p.add_argument("--out", default=str(REPO / ".cache" / "bench-python"))
    args = p.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case, args.records, args.endpoint)))
        return

    out = Path(args.out) / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True)
    collector, endpoint = start_collector(out)
    services = {case: f"bench-{uuid.uuid4().hex[:6]}" for case in CASES}
    runs: Dict[str, List[Dict[str, Any]]] = {case: [] for case in CASES}
    try:
        # Rounds, cases interleaved: this machine's speed drifts minute to
        # minute, so each case gets a turn in every round and the table
        # reports each case's median round.
        for rnd in range(args.rounds):
            for case in CASES:
                env = {k: v for k, v in os.environ.items()
                       if not k.startswith(("OTEL_", "TELEMETRY_", "FFITEL_LOG", "LOG_LEVEL"))}
                env.update({
                    "PYTHONPATH": str(REPO / "python" / "src") + os.pathsep + env.get("PYTHONPATH", ""),
                    "TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
                    "OTEL_SERVICE_NAME": services[case], "LOG_LEVEL": "info",
                    "DEPLOYMENT_ENVIRONMENT": "production",
                })
                proc = subprocess.run(
                    [sys.executable, __file__, "--case", case, "--records", str(args.records),
                     "--endpoint", endpoint],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=600)
                if proc.returncode != 0:
                    raise SystemExit(f"case {case} failed ({proc.returncode})")
                row = json.loads(proc.stdout.strip().splitlines()[-1])
                runs[case].append(row)
                print(f"  round {rnd + 1}/{args.rounds} {case}: {row['ns_cpu']:.0f} CPU ns/record",
                      file=sys.stderr)
        time.sleep(1.5)  # the file exporter flushes every 100 ms
    finally:
        collector.send_signal(signal.SIGINT)
        collector.wait(20)
    delivered = count_delivered(out)
    rows: List[Dict[str, Any]] = []
    for case in CASES:
        by_cpu = sorted(runs[case], key=lambda r: r["ns_cpu"])
        row = dict(by_cpu[len(by_cpu) // 2])
        row["case"], row["service"] = case, services[case]
        row["emitted"] = sum(r["emitted"] for r in runs[case])
        row["all_cpu"] = [round(r["ns_cpu"]) for r in runs[case]]
        rows.append(row)
    base = next(r["ns_cpu"] for r in rows if r["case"] == BASELINE)
    otel = next((r["ns_cpu"] for r in rows if r["case"].startswith("otel")), None)
    print(f"\nPython {sys.version.split()[0]}, {args.records} records per case and round, {args.rounds} rounds "
          f"(median round shown), main thread, {os.cpu_count()} CPUs; console/stream output to /dev/null\n")
    header = (f"{'case':<26} {'wall ns':>8} {'CPU ns':>8} {'vs Stream':>10} {'otel/x':>7} "
              f"{'sent':>8} {'delivered':>10}  CPU ns of each round")
    print(header)
    print("-" * len(header))
    for r in rows:
        sent = r["emitted"]
        got = delivered.get(r["service"], 0)
        print(f"{r['case']:<26} {r['ns_wall']:>8.0f} {r['ns_cpu']:>8.0f} {r['ns_cpu'] / base:>9.2f}x "
              f"{(otel / r['ns_cpu']) if otel else 0:>6.1f}x {sent if sent else '-':>8} "
              f"{got if sent else '-':>10}  {r['all_cpu']}")
    print("\nCPU ns: the host (main) thread's CPU time per record; vs Stream: that cost relative to "
          "logging.StreamHandler to /dev/null; otel/x: how many times cheaper than the OpenTelemetry "
          "SDK handler.")
    floor = next((r["ns_cpu"] for r in rows if r["case"] == "logging.NullHandler"), None)
    mine = next((r["ns_cpu"] for r in rows if r["case"] == "ffitel.LoggingHandler"), None)
    if floor and mine and otel:
        print(f"Above the logging floor (logging.NullHandler, {floor:.0f} CPU ns): ffitel.LoggingHandler "
              f"{mine - floor:.0f} ns, the OpenTelemetry SDK handler {otel - floor:.0f} ns "
              f"({(otel - floor) / max(mine - floor, 1):.1f}x).")
    print("sent includes the warm-up records; ffitel stats of the median round:")
    for r in rows:
        if "stats" in r:
            print(f"  {r['case']}: {r['stats']}  shutdown {r['shutdown_s']:.2f}s")
        elif "shutdown_s" in r:
            print(f"  {r['case']}: flush+shutdown {r['shutdown_s']:.2f}s")


if __name__ == "__main__":
    main()

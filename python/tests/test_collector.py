"""Real worker processes against the real OpenTelemetry Collector."""

from __future__ import annotations

import http.server
import re
import threading
import time
from typing import Dict, Tuple

from conftest import Collector, run_worker, service_name, wait_for


def test_logs_spans_and_metrics_arrive(collector: Collector) -> None:
    service = service_name("signals")
    run_worker("""
        import logging, ffitel
        ffitel.init_console()
        ffitel.info("early record", phase=1)
        ffitel.counter_add("pytest.jobs", 1, queue="warmup")
        ffitel.init_telemetry()
        logging.getLogger().addHandler(ffitel.LoggingHandler())
        logging.getLogger().setLevel(logging.INFO)
        with ffitel.fields(correlation_id="corr-7"):
            with ffitel.span("process job", kind="consumer", attributes={"job.number": 7}) as job:
                ffitel.info("processing", job=7, ok=True)
                with ffitel.span("charge card", kind="client") as charge:
                    charge.set_attribute("amount_cents", 500)
                    charge.add_event("retry", attempt=2)
                    ffitel.warning("slow charge", ms=12.5)
                    logging.getLogger("urllib3.connectionpool").info(
                        "request %s", "POST /charge", extra={"http.status_code": 201})
                try:
                    with ffitel.span("refund"):
                        raise RuntimeError("card declined")
                except RuntimeError:
                    logging.getLogger("payments").exception("refund failed")
        ffitel.counter_add("pytest.jobs", 2, queue="main")
        ffitel.histogram_record("pytest.batch.size", 12, unit="{item}", queue="main")
        ffitel.histogram_record("pytest.batch.size", 30, unit="{item}", queue="main")
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})

    def spans_by_name():
        spans = {s["name"]: s for s in collector.spans(service)}
        return spans if len(spans) >= 3 else None

    spans = wait_for(spans_by_name)
    assert spans, "spans did not arrive"
    job, charge, refund = spans["process job"], spans["charge card"], spans["refund"]
    assert job["kind"] == 5 and charge["kind"] == 3  # OTLP: CONSUMER 5, CLIENT 3
    assert charge["traceId"] == job["traceId"] and charge["parentSpanId"] == job["spanId"]
    assert refund["parentSpanId"] == job["spanId"]
    assert not job.get("parentSpanId")
    assert job["attrs"]["job.number"] == 7 and job["attrs"]["correlation_id"] == "corr-7"
    assert charge["attrs"]["amount_cents"] == 500 and charge["attrs"]["correlation_id"] == "corr-7"
    assert [e["name"] for e in charge.get("events", [])] == ["retry"]
    assert refund["status"]["code"] == 2 and "card declined" in refund["status"]["message"]

    def logs_by_body():
        logs = {r["body"].get("stringValue"): r for r in collector.logs(service)}
        return logs if {"early record", "processing", "slow charge", "request POST /charge",
                        "refund failed"} <= logs.keys() else None

    logs = wait_for(logs_by_body)
    assert logs, f"logs did not arrive: {[r['body'] for r in collector.logs(service)]}"
    assert logs["early record"]["attrs"]["phase"] == 1
    processing = logs["processing"]
    assert processing["severityNumber"] == 9
    assert processing["attrs"]["job"] == 7 and processing["attrs"]["ok"] is True
    assert processing["attrs"]["correlation_id"] == "corr-7"
    assert processing["traceId"] == job["traceId"] and processing["spanId"] == job["spanId"]
    slow = logs["slow charge"]
    assert slow["severityNumber"] == 13 and slow["spanId"] == charge["spanId"]
    assert slow["attrs"]["ms"] == 12.5
    third_party = logs["request POST /charge"]
    assert third_party["attrs"]["logger.name"] == "urllib3.connectionpool"
    assert third_party["attrs"]["http.status_code"] == 201
    assert third_party["spanId"] == charge["spanId"]
    failed = logs["refund failed"]
    assert failed["severityNumber"] == 17
    assert failed["attrs"]["exception.type"] == "RuntimeError"
    assert failed["attrs"]["exception.message"] == "card declined"
    assert failed["attrs"]["exception.stacktrace"].startswith("Traceback (most recent call last)")
    assert failed["spanId"] == job["spanId"]

    def metric_points():
        found = {}
        for m in collector.metrics(service):
            if m["name"] == "pytest.jobs":
                for p in m["sum"]["dataPoints"]:
                    found[("jobs", p["attributes"][0]["value"]["stringValue"])] = float(
                        p.get("asDouble", p.get("asInt", 0)))
            if m["name"] == "pytest.batch.size":
                for p in m["histogram"]["dataPoints"]:
                    found[("batch", "count")] = int(p["count"])
                    found[("batch", "unit")] = m.get("unit")
        return found if ("batch", "count") in found and ("jobs", "main") in found else None

    points = wait_for(metric_points)
    assert points, "metrics did not arrive"
    assert points[("jobs", "warmup")] == 1  # counted in phase 1, exported from phase 2
    assert points[("jobs", "main")] == 2
    assert points[("batch", "count")] == 2 and points[("batch", "unit")] == "{item}"


def test_eight_threads_fifty_thousand_records_each_all_delivered(collector: Collector) -> None:
    # 400 000 records in a few seconds outrun the exporter and overflow the
    # default log queue (131 072): the default queue-full policy
    # (backpressure) makes the producers wait for room while the Collector
    # accepts, so nothing is dropped.
    service = service_name("volume")
    proc = run_worker("""
        import json, threading, ffitel
        ffitel.init_telemetry()
        def work(t):
            for i in range(50_000):
                ffitel.info("volume record", thread=t, i=i)
        threads = [threading.Thread(target=work, args=(t,)) for t in range(8)]
        for t in threads: t.start()
        for t in threads: t.join()
        # the hosts now outrun the Collector by far (about 10 000 records/s
        # on two shared cores): give the flush the time it needs
        ok = ffitel.shutdown(timeout=150.0)
        print(json.dumps({"flushed": ok, "logs": ffitel.stats()["pipeline"]["logs"]}))
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service, "LOG_LEVEL": "info",
              # a generous per-call wait: one export can be slow on a shared machine
              "FFITEL_QUEUE_FULL_WAIT_MS": "60000"},
        timeout=240)
    import json
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    logs = result["logs"]
    assert result["flushed"], logs
    assert logs["emitted"] >= 400_000
    assert logs["dropped"] == 0 and logs["failed"] == 0 and logs["pending"] == 0, logs
    assert logs["exported"] == logs["emitted"], logs

    def delivered() -> int:
        n = collector.count_logs(service, "volume record")
        return n if n >= 400_000 else 0

    assert wait_for(delivered, timeout=60, interval=1.0) == 400_000, \
        f"the Collector received {collector.count_logs(service, 'volume record')} of 400000"


def test_ffitel_span_takes_the_built_in_path_with_ffitel_s_own_scope(collector: Collector) -> None:
    """ffitel.span starts and ends through the library's built-in functions
    (cshim/hostpy.c), not ctypes: the span arrives whole with ctypes' span
    calls taken away, and with the instrumentation scope ffitel_span_start
    gives (a name with a lone surrogate still takes the ctypes path)."""
    service = service_name("spannative")
    proc = run_worker("""
        import ffitel
        from ffitel import _state
        ffitel.init_telemetry()
        with ffitel.span("through ctypes \\udc80") as s:  # the built-in refuses the lone surrogate
            pass
        lib = _state.library()
        assert lib.span_start_native is not None
        def refused(*args):
            raise AssertionError("ffitel.span called ctypes")
        lib.span_start = lib.span_end = refused
        with ffitel.span("through the built-in", kind="client", attributes={"k": 1}) as s:
            print("TP", s.traceparent(), flush=True)
            ffitel.info("inside")
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    tp = re.search(r"^TP (\S+)$", proc.stdout, re.M).group(1).split("-")

    def both():
        spans = {s["name"]: s for s in collector.spans(service)}
        return spans if len(spans) >= 2 else None

    spans = wait_for(both)
    assert spans and len(spans) == 2, spans
    native = spans["through the built-in"]
    ctypes_span = next(s for n, s in spans.items() if n != "through the built-in")
    assert native["traceId"] == tp[1] and native["spanId"] == tp[2]
    assert native["kind"] == 3 and native["attrs"] == {"k": 1}
    assert native["scope"] == ctypes_span["scope"] == "github.com/ffitel/ffitel"
    rec = wait_for(lambda: [r for r in collector.logs(service) if r["body"].get("stringValue") == "inside"])
    assert rec and rec[0]["spanId"] == tp[2]


def _longest_wait_and_ticks(call: str, n: int, reply_after: float, env: Dict[str, str]) -> Tuple[float, int]:
    """Runs ``call`` (Python code using i) n times in a worker whose exports
    go to a receiver that answers each after reply_after seconds, beside a
    thread that ticks every 5 ms; returns the longest call's seconds and the
    ticks meanwhile. Held, the GIL lets that thread in at most around the
    call's edges (a tick or two); released, it ticks through the wait."""
    class Slow(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(reply_after)
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        proc = run_worker(f"""
            import threading, time, ffitel
            from ffitel import _state
            ffitel.init_telemetry()
            assert _state.native_fn is not None, "no native functions: the test would try ctypes"
            ticks, stop = [0], False
            def ticker():
                while not stop:
                    time.sleep(0.005)
                    ticks[0] += 1
            t = threading.Thread(target=ticker)
            t.start()
            worst = (0.0, 0)
            for i in range({n}):
                before, t0 = ticks[0], time.monotonic()
                {call}
                took = time.monotonic() - t0
                if took > worst[0]:
                    worst = (took, ticks[0] - before)
            stop = True
            t.join()
            print("WORST %.3f %d" % worst, flush=True)
            ffitel.shutdown(timeout=1.0)
        """, env={"TELEMETRY_ENABLED": "true", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                  "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{srv.server_address[1]}",
                  "OTEL_METRICS_EXPORTER": "none", "FFITEL_LOG_OUTPUT": "none", **env}, timeout=120)
    finally:
        srv.shutdown()
    took, ticks = re.search(r"^WORST (\S+) (\d+)$", proc.stdout, re.M).groups()
    assert float(took) > 0.1, f"no call waited for room ({took} s): the test did not fill the queue"
    return float(took), int(ticks)


def test_a_span_end_waiting_for_queue_room_lets_other_threads_run() -> None:
    """Ending a span may wait for room in a full export queue (backpressure).
    The span built-in waits without the GIL, as a ctypes call does: another
    Python thread keeps running meanwhile. A two-span queue stays full."""
    took, ticks = _longest_wait_and_ticks(
        'with ffitel.span("s%d" % i): pass', 12, 0.5,
        {"OTEL_LOGS_EXPORTER": "none", "OTEL_BSP_MAX_QUEUE_SIZE": "2", "OTEL_BSP_MAX_EXPORT_BATCH_SIZE": "1",
         "FFITEL_QUEUE_FULL_WAIT_MS": "2000"})
    assert ticks >= 10, f"a span waited {took} s and the other thread ticked {ticks} times (the GIL was held)"


def test_a_log_call_waiting_for_queue_room_lets_other_threads_run() -> None:
    """As for a span's end: a record that finds the ring and the export
    queue full waits for room without the GIL (the ring's fast path keeps it)."""
    took, ticks = _longest_wait_and_ticks(
        'ffitel.info("flood", i=i)', 20000, 1.0,
        {"OTEL_TRACES_EXPORTER": "none", "OTEL_BLRP_MAX_QUEUE_SIZE": "64", "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "32",
         "FFITEL_QUEUE_FULL_WAIT_MS": "500"})
    assert ticks >= 10, f"a record waited {took} s and the other thread ticked {ticks} times (the GIL was held)"

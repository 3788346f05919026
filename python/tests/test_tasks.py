"""Job telemetry: ffitel.send on the producer side, ffitel.task on the consumer side.

The in-process tests run console-only (no TELEMETRY_ENABLED here) and read
the ids the library prints with capfd; the Collector test runs a producer and
a consumer as separate processes and reads what they exported.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest

from conftest import Collector, logged, run_worker, service_name, wait_for

import ffitel

PROCESS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 15, 20, 30, 60,
                   120, 300, 600]

pytestmark = pytest.mark.usefixtures("console")


def producer_carrier() -> Dict[str, str]:
    with ffitel.span("request", kind="server"):
        with ffitel.send("SendReport"):
            return ffitel.inject()


def trace_of(carrier: Dict[str, str]) -> str:
    return carrier["traceparent"].split("-")[1]


def span_of(carrier: Dict[str, str]) -> str:
    return carrier["traceparent"].split("-")[2]


# --- producer side -----------------------------------------------------------------


def test_send_is_a_producer_span_whose_context_inject_returns() -> None:
    with ffitel.span("request", kind="server") as request:
        with ffitel.send("SendReport", queue="reports") as s:
            assert isinstance(s, ffitel.Span) and s.name == "send SendReport"
            assert ffitel.current_span() is s
            carrier = ffitel.inject()
            assert carrier == {"traceparent": f"00-{s.trace_id}-{s.span_id}-01"}
            assert s.trace_id == request.trace_id and s.span_id != request.span_id
        assert ffitel.current_span() is request
    assert not s.is_recording  # ended


def test_send_as_decorator() -> None:
    @ffitel.send("SendReport")
    def enqueue() -> Dict[str, str]:
        current = ffitel.current_span()
        assert current is not None and current.name == "send SendReport"
        return ffitel.inject()

    assert "traceparent" in enqueue()


# --- consumer side: API --------------------------------------------------------------


def test_task_is_the_current_span_and_logs_carry_its_ids(
        capfd: pytest.CaptureFixture[str]) -> None:
    carrier = producer_carrier()
    logged(capfd)
    with ffitel.task("SendReport", worker="report-worker", task_id="t-1", attempt=1,
                     carrier=carrier) as t:
        assert isinstance(t, ffitel.Span) and t.name == "process SendReport"
        assert t.is_recording and ffitel.current_span() is t
        t.set_attribute("report.pages", 3).add_event("rendered", pages=3)
        ffitel.info("working", step=1)
        with ffitel.span("render") as child:
            assert child.trace_id == t.trace_id
            ffitel.info("rendering")
        assert ffitel.inject()["traceparent"] == f"00-{t.trace_id}-{t.span_id}-01"
        assert t.trace_id == trace_of(carrier)  # attempt 1: a child of the send span
    assert ffitel.current_span() is None
    assert not t.is_recording  # ended
    out = logged(capfd)
    assert re.search(rf"msg=working .*trace_id={t.trace_id} span_id={t.span_id}", out)
    assert re.search(r"msg=working .*step=1", out)
    assert f"msg=rendering trace_id={t.trace_id} span_id={child.span_id}" in out


def test_task_as_decorator() -> None:
    seen: List[ffitel.Span] = []
    traces: List[str] = []

    @ffitel.task("Resize", worker="images")
    def resize(n: int) -> int:
        s = ffitel.current_span()
        assert s is not None and s.is_recording
        seen.append(s)
        traces.append(s.trace_id)
        return n * 2

    assert resize(2) == 4 and resize(3) == 6
    assert [s.name for s in seen] == ["process Resize"] * 2
    assert seen[0] is not seen[1]  # a fresh attempt per call
    assert traces[0] != traces[1]  # no carrier: each a new trace
    assert ffitel.current_span() is None


def test_task_decorator_on_coroutines() -> None:
    @ffitel.task("Resize", worker="images", task_id="t-9")
    async def resize() -> str:
        await asyncio.sleep(0)
        s = ffitel.current_span()
        assert s is not None
        with ffitel.span("inner") as inner:
            await asyncio.sleep(0)
            assert inner.trace_id == s.trace_id
        return s.name

    async def main() -> List[str]:
        return list(await asyncio.gather(resize(), resize()))

    assert asyncio.run(main()) == ["process Resize", "process Resize"]


def test_exception_is_reraised_unchanged() -> None:
    err = ValueError("bad report")
    with pytest.raises(ValueError) as caught:
        with ffitel.task("SendReport", worker="report-worker", attempt=1) as t:
            raise err
    assert caught.value is err
    assert caught.value.__traceback__ is not None
    assert not t.is_recording and ffitel.current_span() is None

    class Retry(Exception):
        pass

    @ffitel.task("SendReport")
    def handler() -> None:
        raise Retry("later")

    with pytest.raises(Retry, match="later"):
        handler()

    @ffitel.task("SendReport")
    async def async_handler() -> None:
        await asyncio.sleep(0)
        raise KeyError("k")

    with pytest.raises(KeyError):
        asyncio.run(async_handler())
    assert ffitel.current_span() is None


def test_exception_with_a_broken_str_still_propagates() -> None:
    class Weird(Exception):
        def __str__(self) -> str:
            raise RuntimeError("no str")

    with pytest.raises(Weird):
        with ffitel.task("SendReport"):
            raise Weird()


@pytest.mark.parametrize("propagation,attempt,same_trace", [
    (None, 1, True),       # auto: child on the first attempt
    (None, 2, False),      # auto: a new, linked trace on retries
    ("auto", 3, False),
    ("child", 2, True),
    ("link", 1, False),
    ("none", 1, False),
])
def test_propagation_modes(propagation: Optional[str], attempt: int, same_trace: bool) -> None:
    carrier = producer_carrier()
    with ffitel.task("SendReport", attempt=attempt, carrier=carrier,
                     propagation=propagation) as t:
        assert (t.trace_id == trace_of(carrier)) is same_trace
        assert t.span_id != span_of(carrier)


def test_carrier_keys_are_case_insensitive() -> None:
    carrier = producer_carrier()
    with ffitel.task("SendReport", carrier={"Traceparent": carrier["traceparent"]}) as t:
        assert t.trace_id == trace_of(carrier)


def test_inject_returns_the_whole_carrier_with_tracestate() -> None:
    assert ffitel.inject() == {}
    carrier = producer_carrier()
    assert isinstance(carrier, dict) and set(carrier) == {"traceparent"}
    with ffitel.task("SendReport", carrier={**carrier, "tracestate": "vendor=abc,other=1"}) as t:
        headers = ffitel.inject()
        assert isinstance(headers, dict)
        assert headers == {"traceparent": f"00-{t.trace_id}-{t.span_id}-01",
                           "tracestate": "vendor=abc,other=1"}
        filled = {"x-request-id": "r-1"}
        assert ffitel.inject(filled) is filled
        assert filled == {"x-request-id": "r-1", **headers}
    assert ffitel.inject() == {}


def test_task_inside_an_open_span_takes_the_carrier_as_its_parent() -> None:
    # The link to the open span is only visible in the export: see the
    # Collector test ("poll queue"). Here: the carrier still wins the parent.
    carrier = producer_carrier()
    with ffitel.span("poll queue") as poll:
        assert poll.trace_id != trace_of(carrier)
        with ffitel.task("SendReport", attempt=1, carrier=carrier) as t:
            assert t.trace_id == trace_of(carrier)
            assert ffitel.current_span() is t
        assert ffitel.current_span() is poll
        with ffitel.task("SendReport", attempt=1, carrier=carrier, propagation="link") as t:
            assert t.trace_id not in (trace_of(carrier), poll.trace_id)


@pytest.mark.parametrize("carrier", [
    {"traceparent": "garbage"}, {"traceparent": ""}, {"tracestate": "k=v"}, {}, None,
])
def test_malformed_or_empty_carrier_starts_a_new_trace_without_error(
        carrier: Optional[Dict[str, str]]) -> None:
    with ffitel.task("SendReport", carrier=carrier) as t:
        assert t.is_recording
        assert re.fullmatch(r"[0-9a-f]{32}", t.trace_id)


def test_attempt_below_one_still_runs() -> None:
    with ffitel.task("SendReport", attempt=0) as t:
        assert t.is_recording


def test_bad_arguments_raise_before_the_body() -> None:
    with pytest.raises(ValueError, match="unknown task propagation"):
        ffitel.task("SendReport", propagation="sideways")
    with pytest.raises(ValueError, match="task_type"):
        ffitel.task("")


def test_task_in_a_forked_child_is_a_noop_that_runs_the_body() -> None:
    proc = run_worker("""
        import os, sys, ffitel
        ffitel.init_console()
        pid = os.fork()
        if pid == 0:
            with ffitel.task("SendReport", carrier={"traceparent": "x"}) as t:
                print("child body ran, recording:", t.is_recording)
            err = ValueError("child failure")
            try:
                with ffitel.task("SendReport"):
                    raise err
            except ValueError as e:
                print("child re-raised:", e is err)
            sys.stdout.flush()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        print("child status:", status)
    """, timeout=30)
    assert "child body ran, recording: False" in proc.stdout
    assert "child re-raised: True" in proc.stdout
    assert "child status: 0" in proc.stdout


def test_task_without_the_library_still_runs_the_body() -> None:
    proc = run_worker("""
        import ffitel
        with ffitel.task("SendReport") as t:
            print("body ran, recording:", t.is_recording)
        try:
            with ffitel.task("SendReport"):
                raise ValueError("handler failure")
        except ValueError as e:
            print("re-raised:", e)
    """, env={"FFITEL_LIBRARY": "/nonexistent/libffitel.so"})
    assert "body ran, recording: False" in proc.stdout
    assert "re-raised: handler failure" in proc.stdout
    assert "tasks run without telemetry" in proc.stderr


def test_task_after_shutdown_still_runs_and_raises_nothing_of_its_own() -> None:
    proc = run_worker("""
        import ffitel
        ffitel.init_telemetry()
        ffitel.shutdown(timeout=2.0)
        with ffitel.task("SendReport") as t:
            ffitel.info("after shutdown")
        try:
            with ffitel.task("SendReport"):
                raise ValueError("late failure")
        except ValueError as e:
            print("re-raised:", e)
        print("done")
    """)
    assert proc.stdout.split("\n")[-2:] == ["done", ""]
    assert "re-raised: late failure" in proc.stdout
    assert "after shutdown" in proc.stderr


# --- real processes, real Collector ---------------------------------------------------


def _point_value(p: Dict[str, Any]) -> float:
    return float(p.get("asInt", p.get("asDouble", 0)))


def _latest_points(metrics: List[Dict[str, Any]], name: str, kind: str) -> List[Dict[str, Any]]:
    """The data points of the last export of metric name (cumulative)."""
    docs = [m for m in metrics if m["name"] == name]
    if not docs:
        return []
    out = []
    for p in docs[-1][kind]["dataPoints"]:
        p = dict(p)
        p["attrs"] = {kv["key"]: kv["value"].get("stringValue", kv["value"])
                      for kv in p.get("attributes", [])}
        out.append(p)
    return out


def test_producer_to_consumer_through_the_collector(collector: Collector, tmp_path: Path) -> None:
    producer_service = service_name("task-producer")
    consumer_service = service_name("task-consumer")
    job_file = tmp_path / "job.json"

    run_worker(f"""
        import json, ffitel
        ffitel.init_telemetry()
        with ffitel.span("request", kind="server"):
            with ffitel.send("SendReport") as s:
                carrier = ffitel.inject()
        assert isinstance(carrier, dict) and carrier["traceparent"].startswith("00-"), carrier
        with open({str(job_file)!r}, "w") as f:
            json.dump({{"task_id": "t-1", "carrier": carrier}}, f)
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": producer_service})

    run_worker(f"""
        import json, ffitel
        ffitel.init_telemetry()
        with open({str(job_file)!r}) as f:
            job = json.load(f)
        carrier = job["carrier"]
        for attempt in (1, 2):
            with ffitel.task("SendReport", worker="report-worker", task_id=job["task_id"],
                             attempt=attempt, carrier=carrier):
                ffitel.info("working", attempt=attempt)
        try:
            with ffitel.task("SendReport", worker="report-worker", task_id="t-2",
                             attempt=1, carrier=carrier, propagation="link"):
                ffitel.info("failing")
                raise ValueError("no such report")
        except ValueError as exc:
            print("re-raised:", exc)
        # polled inside a span of the consumer's own: the task's parent is
        # still the send span, and the poll span becomes a link
        with ffitel.span("poll queue"):
            with ffitel.task("SendReport", worker="report-worker", task_id="t-3",
                             attempt=1, carrier=carrier):
                ffitel.info("polled")
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": consumer_service})

    # --- traces
    def spans_arrived() -> Optional[Dict[str, Any]]:
        send = [s for s in collector.spans(producer_service) if s["name"] == "send SendReport"]
        request = [s for s in collector.spans(producer_service) if s["name"] == "request"]
        tasks = [s for s in collector.spans(consumer_service)
                 if s["name"] == "process SendReport"]
        poll = [s for s in collector.spans(consumer_service) if s["name"] == "poll queue"]
        if send and request and poll and len(tasks) >= 4:
            return {"send": send[0], "request": request[0], "poll": poll[0], "tasks": tasks}
        return None

    got = wait_for(spans_arrived)
    assert got, "spans did not arrive"
    send, request = got["send"], got["request"]
    assert send["kind"] == 4  # OTLP PRODUCER
    assert send["traceId"] == request["traceId"] and send["parentSpanId"] == request["spanId"]
    assert send["attrs"]["messaging.system"] == "ffitel"
    assert send["attrs"]["messaging.operation.name"] == "send"
    assert send["attrs"]["messaging.operation.type"] == "send"
    assert send["attrs"]["messaging.destination.name"] == "SendReport"

    by_key = {(s["attrs"]["messaging.message.id"], s["attrs"]["ffitel.task.attempt"]): s
              for s in got["tasks"]}
    first, retry, failed = by_key[("t-1", 1)], by_key[("t-1", 2)], by_key[("t-2", 1)]
    polled = by_key[("t-3", 1)]
    for s in (first, retry, failed, polled):
        assert s["kind"] == 5  # OTLP CONSUMER
        assert s["attrs"]["messaging.system"] == "ffitel"
        assert s["attrs"]["messaging.operation.name"] == "process"
        assert s["attrs"]["messaging.destination.name"] == "SendReport"
        assert s["attrs"]["messaging.consumer.group.name"] == "report-worker"
    # attempt 1: in the producer's trace, a child of the send span
    assert first["traceId"] == send["traceId"] and first["parentSpanId"] == send["spanId"]
    assert first.get("status", {}).get("code", 0) != 2
    # attempt 2: a new trace, linked to the send span
    assert retry["traceId"] != send["traceId"] and not retry.get("parentSpanId")
    assert [(lk["traceId"], lk["spanId"]) for lk in retry.get("links", [])] == \
        [(send["traceId"], send["spanId"])]
    # a task started inside the "poll queue" span: still a child of the send
    # span, and linked to the poll span (issue 6's link-to-ambient rule)
    poll = got["poll"]
    assert poll["traceId"] != send["traceId"] and not poll.get("parentSpanId")
    assert polled["traceId"] == send["traceId"] and polled["parentSpanId"] == send["spanId"]
    links = {(lk["traceId"], lk["spanId"]): lk for lk in polled.get("links", [])}
    assert (poll["traceId"], poll["spanId"]) in links, polled.get("links")
    assert {kv["key"]: kv["value"].get("stringValue")
            for kv in links[(poll["traceId"], poll["spanId"])].get("attributes", [])} \
        == {"ffitel.link": "ambient"}
    assert not first.get("links"), "no current span: no ambient link"
    # the failure: error status, error.type, our exception event with the stack
    assert failed["status"]["code"] == 2
    assert failed["attrs"]["error.type"] == "ValueError"
    events = [e for e in failed.get("events", []) if e["name"] == "exception"]
    assert len(events) == 1, failed.get("events")  # ours only: task_end adds none
    ev = {a["key"]: a["value"]["stringValue"] for a in events[0]["attributes"]}
    assert ev["exception.type"] == "ValueError"
    assert ev["exception.message"] == "no such report"
    assert ev["exception.stacktrace"].startswith("Traceback (most recent call last)")
    assert "ValueError: no such report" in ev["exception.stacktrace"]

    # --- logs carry the task span ids
    def logs_arrived() -> Optional[List[Dict[str, Any]]]:
        logs = [r for r in collector.logs(consumer_service)
                if r["body"].get("stringValue") in ("working", "failing")]
        return logs if len(logs) >= 3 else None

    logs = wait_for(logs_arrived)
    assert logs, "logs did not arrive"
    working = {r["attrs"]["attempt"]: r for r in logs if r["body"]["stringValue"] == "working"}
    assert (working[1]["traceId"], working[1]["spanId"]) == (first["traceId"], first["spanId"])
    assert (working[2]["traceId"], working[2]["spanId"]) == (retry["traceId"], retry["spanId"])
    failing = [r for r in logs if r["body"]["stringValue"] == "failing"][0]
    assert (failing["traceId"], failing["spanId"]) == (failed["traceId"], failed["spanId"])

    # --- metrics
    def metrics_arrived() -> Optional[Dict[str, List[Dict[str, Any]]]]:
        ms = collector.metrics(consumer_service)
        consumed = _latest_points(ms, "messaging.client.consumed.messages", "sum")
        duration = _latest_points(ms, "messaging.process.duration", "histogram")
        ok = [p for p in consumed if "error.type" not in p["attrs"]]
        if ok and _point_value(ok[0]) >= 3 and len(duration) >= 2 and len(consumed) >= 2:
            return {"consumed": consumed, "duration": duration}
        return None

    points = wait_for(metrics_arrived)
    assert points, "task metrics did not arrive"
    expected = {"messaging.system": "ffitel", "messaging.operation.name": "process",
                "messaging.destination.name": "SendReport",
                "messaging.consumer.group.name": "report-worker"}
    for name in ("consumed", "duration"):
        ok = [p for p in points[name] if "error.type" not in p["attrs"]]
        bad = [p for p in points[name] if p["attrs"].get("error.type") == "ValueError"]
        assert len(ok) == 1 and len(bad) == 1, points[name]
        assert ok[0]["attrs"] == expected
        assert bad[0]["attrs"] == {**expected, "error.type": "ValueError"}
        for p in points[name]:
            assert "messaging.message.id" not in p["attrs"]
    consumed_ok = [p for p in points["consumed"] if "error.type" not in p["attrs"]][0]
    consumed_bad = [p for p in points["consumed"] if "error.type" in p["attrs"]][0]
    assert _point_value(consumed_ok) == 3 and _point_value(consumed_bad) == 1
    for p in points["duration"]:
        assert p["explicitBounds"] == PROCESS_BUCKETS
    assert sum(int(p["count"]) for p in points["duration"]) == 4
    units = {m["name"]: m.get("unit") for m in collector.metrics(consumer_service)}
    assert units["messaging.process.duration"] == "s"
    assert units["messaging.client.consumed.messages"] == "{message}"


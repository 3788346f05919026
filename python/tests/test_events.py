"""Domain events from Python: publish_event() and subscribe() through the .so.

Fast-path tests run in this process; those that depend on the environment
(the durable sink, exact stats, export to the Collector) run in workers,
since the library reads its environment once, when it loads.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from pathlib import Path

import pytest

from conftest import Collector, run_worker, service_name, wait_for

import ffitel


def _uuid7_ms(event_id: str) -> int:
    u = uuid.UUID(event_id)
    assert u.version == 7, event_id
    return u.int >> 80  # the leading 48 bits: Unix milliseconds


def test_fast_publish_reaches_the_subscriber() -> None:
    cid = str(uuid.uuid4())
    with ffitel.subscribe("payment.*") as sub:
        ids = [ffitel.publish_event("payment.processed", {"amount": i, "currency": "EUR"},
                                    namespace="payments", correlation_id=cid,
                                    task_uuid="task-1", step_uuid="step-1",
                                    step_name="charge", fired_by="pytest")
               for i in range(5)]
        events = sub.poll(timeout=2.0)
    assert all(isinstance(i, str) and len(i) == 36 for i in ids)
    assert [e["event_id"] for e in events] == ids
    # UUIDv7: time-ordered, so sorting the ids sorts them by publication
    assert sorted(ids) == ids and len(set(ids)) == 5
    now_ms = int(time.time() * 1000)
    assert all(abs(_uuid7_ms(i) - now_ms) < 60_000 for i in ids)
    first = events[0]
    assert first["event_name"] == "payment.processed" and first["event_version"] == "1.0"
    assert first["payload"] == {"amount": 0, "currency": "EUR"}
    md = first["metadata"]
    assert md["namespace"] == "payments" and md["correlation_id"] == cid
    assert md["task_uuid"] == "task-1" and md["step_uuid"] == "step-1"
    assert md["step_name"] == "charge" and md["fired_by"] == "pytest"
    assert md["fired_at"] and md["traceparent"].startswith("00-")


def test_metadata_omits_none_and_payload_takes_any_json_value() -> None:
    with ffitel.subscribe("misc.value") as sub:
        ffitel.publish_event("misc.value", [1, "two", None, float("nan")],
                             namespace="misc", correlation_id=uuid.UUID(int=7))
        ffitel.publish_event("misc.value", namespace="misc", correlation_id="c2")
        a, b = sub.poll(timeout=2.0)
    assert a["payload"] == [1, "two", None, "NaN"]  # non-finite floats as strings
    assert a["metadata"]["correlation_id"] == str(uuid.UUID(int=7))
    assert "step_uuid" not in a["metadata"] and "step_name" not in a["metadata"]
    assert b["payload"] == {}  # None means {}


def test_pattern_filtering() -> None:
    with ffitel.subscribe("payment.*") as payments, ffitel.subscribe("order.*") as orders, \
            ffitel.subscribe("*") as everything, ffitel.subscribe("order.placed") as exact:
        p = ffitel.publish_event("payment.refunded", {}, namespace="payments", correlation_id="c")
        o = ffitel.publish_event("order.placed", {}, namespace="orders", correlation_id="c")
        ffitel.publish_event("order.shipped", {}, namespace="orders", correlation_id="c")
        assert [e["event_id"] for e in payments.poll(timeout=2.0)] == [p]
        assert [e["event_name"] for e in orders.poll(timeout=2.0)] == \
            ["order.placed", "order.shipped"]
        assert len(everything.poll(timeout=2.0)) == 3
        assert [e["event_id"] for e in exact.poll(timeout=2.0)] == [o]
        assert payments.poll(timeout=0) == []


def test_fields_give_namespace_and_correlation_id() -> None:
    with ffitel.subscribe("fields.test") as sub:
        with ffitel.fields(namespace="billing", correlation_id="from-fields"):
            ffitel.publish_event("fields.test", {"n": 1})
            ffitel.publish_event("fields.test", {"n": 2}, correlation_id="explicit")
        a, b = sub.poll(timeout=2.0)
    assert a["metadata"]["namespace"] == "billing"
    assert a["metadata"]["correlation_id"] == "from-fields"
    assert b["metadata"]["correlation_id"] == "explicit"


def test_missing_correlation_id_or_namespace_raises() -> None:
    with pytest.raises(ffitel.Error) as exc:
        ffitel.publish_event("payment.processed", {}, namespace="payments")
    assert exc.value.code == -1 and "correlation_id" in str(exc.value)
    assert "FFITEL_E_INVALID" in str(exc.value)
    with pytest.raises(ffitel.Error) as exc:
        ffitel.publish_event("payment.processed", {}, correlation_id="c")
    assert exc.value.code == -1 and "namespace" in str(exc.value)
    with pytest.raises(ffitel.Error) as exc:
        ffitel.publish_event("", {}, namespace="n", correlation_id="c")
    assert exc.value.code == -1
    with pytest.raises(ffitel.Error) as exc:
        ffitel.publish_event("x.y", {}, namespace="n", correlation_id="c", delivery="carrier")
    assert exc.value.code == -1 and "durable" in str(exc.value)


def test_bad_pattern_and_closed_subscription() -> None:
    with pytest.raises(ffitel.Error) as exc:
        ffitel.subscribe("pay*ment")
    assert exc.value.code == -1 and "pattern" in str(exc.value)
    sub = ffitel.subscribe("closed.*")
    sub.close()
    sub.close()  # idempotent
    assert sub.closed
    with pytest.raises(ffitel.Error) as exc:
        sub.poll(timeout=0)
    assert exc.value.code == -4


def test_large_events_take_a_bigger_buffer_and_none_is_lost() -> None:
    big = "x" * 20_000
    with ffitel.subscribe("big.*") as sub:
        ids = [ffitel.publish_event("big.one", {"i": i, "blob": big if i % 2 else ""},
                                    namespace="big", correlation_id="c") for i in range(4)]
        events = sub.poll(timeout=2.0)
    assert [e["event_id"] for e in events] == ids
    assert events[1]["payload"]["blob"] == big and events[0]["payload"]["blob"] == ""


def test_poll_waits_for_an_event_from_another_thread_and_max_events() -> None:
    with ffitel.subscribe("late.*") as sub:
        t0 = time.monotonic()
        assert sub.poll(timeout=0.3) == []
        assert 0.25 <= time.monotonic() - t0 < 2.0

        def publish() -> None:
            time.sleep(0.3)
            for _ in range(3):
                ffitel.publish_event("late.arrival", {}, namespace="late", correlation_id="c")

        t = threading.Thread(target=publish)
        t.start()
        got = sub.poll(timeout=None, max_events=1)  # blocks (GIL released) until one arrives
        t.join()
        assert len(got) == 1
        assert len(wait_for(lambda: sub.poll(timeout=0), timeout=5)) == 2


def test_durable_without_a_sink_raises_naming_the_variable() -> None:
    proc = run_worker("""
        import ffitel
        try:
            ffitel.publish_event("payment.processed", {"amount": 5}, namespace="payments",
                                 correlation_id="c-1", delivery="durable")
        except ffitel.Error as exc:
            print("CODE", exc.code)
            print("MESSAGE", exc)
        r = ffitel.stats()["router"]
        print("ERRORS", r["routing_errors"])
    """)
    assert "CODE -7" in proc.stdout
    assert "FFITEL_EVENTS_DURABLE_URL" in proc.stdout and "FFITEL_E_UNAVAILABLE" in proc.stdout
    assert "ERRORS 1" in proc.stdout


def test_stats_count_routes_and_dispatches() -> None:
    proc = run_worker("""
        import json, ffitel
        with ffitel.subscribe("payment.*") as a, ffitel.subscribe("*") as b:
            for i in range(3):
                ffitel.publish_event("payment.processed", {"i": i}, namespace="p",
                                     correlation_id="c")
            ffitel.publish_event("order.placed", {}, namespace="o", correlation_id="c")
            try:
                ffitel.publish_event("payment.failed", {}, namespace="p", correlation_id="c",
                                     delivery="durable")
            except ffitel.Error:
                pass
            print("SUBS", ffitel.stats()["in_process_bus"]["subscriptions"])
            print("POLLED", len(a.poll(1.0)), len(b.poll(1.0)))
        s = ffitel.stats()
        print("STATS", json.dumps({"router": s["router"], "bus": s["in_process_bus"]}))
    """)
    lines = dict(line.split(" ", 1) for line in proc.stdout.splitlines() if " " in line)
    assert lines["SUBS"] == "2"
    assert lines["POLLED"] == "3 4"
    stats = json.loads(lines["STATS"])
    router, bus = stats["router"], stats["bus"]
    assert router["fast_routed"] == 4 and router["broadcast_routed"] == 0
    assert router["routing_errors"] == 1 and router["fast_delivery_errors"] == 0
    assert router["total_routed"] >= 4
    assert bus["total_events_dispatched"] == 4
    assert bus["ffi_channel_dispatches"] == 7  # 3 events to both subscriptions, 1 to "*"
    assert bus["ffi_channel_drops"] == 0 and bus["handler_errors"] == 0
    assert bus["subscriptions"] == 0


def test_broadcast_lands_in_the_file_sink_and_the_subscriber_and_is_traced(
        collector: Collector, tmp_path: Path) -> None:
    sink = tmp_path / "events.jsonl"
    service = service_name("events")
    proc = run_worker("""
        import json, ffitel
        ffitel.init_telemetry()  # opens the durable sink
        with ffitel.subscribe("payment.*") as sub:
            eid = ffitel.publish_event("payment.processed", {"amount": 500}, namespace="payments",
                                       correlation_id="corr-bc", task_uuid="t-1",
                                       delivery="broadcast")
            fid = ffitel.publish_event("payment.viewed", {}, namespace="payments",
                                       correlation_id="corr-fast")
            events = sub.poll(timeout=2.0)
        s = ffitel.stats()
        print("RESULT", json.dumps({"eid": eid, "fid": fid, "events": events,
                                    "router": s["router"], "bus": s["in_process_bus"]}))
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service,
              "FFITEL_EVENTS_DURABLE_URL": f"file://{sink}"})
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    result = json.loads(line[len("RESULT "):])
    eid, fid = result["eid"], result["fid"]
    assert [e["event_id"] for e in result["events"]] == [eid, fid]

    # one event, one id, on both paths; only the broadcast one is durable
    stored = [json.loads(x) for x in sink.read_text().splitlines() if x.strip()]
    assert [e["event_id"] for e in stored] == [eid]
    assert stored[0]["payload"] == {"amount": 500}
    assert stored[0]["metadata"]["correlation_id"] == "corr-bc"
    assert stored[0] == result["events"][0]
    assert result["router"]["broadcast_routed"] == 1 and result["router"]["routing_errors"] == 0
    assert result["bus"]["ffi_channel_dispatches"] == 2

    def publish_spans():
        spans = collector.spans(service)
        names = [s["name"] for s in spans]
        return spans if names.count("publish_domain_event") >= 2 and \
            "publish_durable" in names and names.count("publish_fast") >= 2 else None

    spans = wait_for(publish_spans)
    assert spans, f"publish spans did not arrive: {[s['name'] for s in collector.spans(service)]}"
    roots = {s["attrs"]["correlation_id"]: s for s in spans if s["name"] == "publish_domain_event"}
    root = roots["corr-bc"]
    assert root["attrs"]["event_name"] == "payment.processed"
    assert root["attrs"]["namespace"] == "payments"
    assert root["attrs"]["delivery_mode"] == "broadcast"
    assert roots["corr-fast"]["attrs"]["delivery_mode"] == "fast"
    # the event carries the publishing span's trace context
    assert stored[0]["metadata"]["traceparent"].split("-")[1] == root["traceId"]
    route = next(s for s in spans if s["name"] == "route_event"
                 and s["parentSpanId"] == root["spanId"])
    assert route["traceId"] == root["traceId"]
    children = {s["name"]: s for s in spans if s.get("parentSpanId") == route["spanId"]}
    assert children["publish_durable"]["attrs"]["queue_name"] == "payments_domain_events"
    assert children["publish_fast"]["attrs"]["subscriber_count"] == 1


def test_publish_inside_a_span_joins_its_trace():
    with ffitel.subscribe("step.*") as sub:
        with ffitel.span("step") as step:
            trace_id = step.trace_id
            ffitel.publish_event("step.done", {"n": 1}, namespace="payments", correlation_id="corr-step")
        events = sub.poll(timeout=2.0)
    assert len(events) == 1
    traceparent = events[0]["metadata"]["traceparent"]
    assert traceparent.split("-")[1] == trace_id

"""ffitel.start_send and start_task(system=, destination=): the producer and
consumer halves for job frameworks whose hooks split a job in two places."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from conftest import Collector, run_worker, service_name, wait_for

import ffitel

pytestmark = pytest.mark.usefixtures("console")


def test_start_send_gives_a_carrier_of_its_own_span() -> None:
    with ffitel.span("request") as request:
        s = ffitel.start_send("SendReport")
        assert isinstance(s, ffitel.Sending) and s.is_recording
        assert ffitel.current_span() is request  # started, not made current
        assert s.trace_id == request.trace_id and s.span_id != request.span_id
        assert s.carrier["traceparent"] == s.traceparent()
    s.end()
    assert not s.is_recording
    s.end(ok=False, error="late")  # idempotent


def test_start_send_checks_its_task_type() -> None:
    with pytest.raises(ValueError, match="task_type"):
        ffitel.start_send("")


def test_start_send_without_the_library_is_a_noop() -> None:
    proc = run_worker("""
        import ffitel
        s = ffitel.start_send("SendReport")
        print("recording:", s.is_recording, "carrier:", s.carrier)
        s.end(ok=False, error=RuntimeError("broker down"))
        print("ended")
    """, env={"FFITEL_LIBRARY": "/nonexistent/libffitel.so"})
    assert "recording: False carrier: {}" in proc.stdout and "ended" in proc.stdout
    assert "sent without it" in proc.stderr


def _points(metrics: List[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    out = []
    for m in metrics:
        if m["name"] != name:
            continue
        data = m.get("sum") or m.get("histogram") or {}
        for p in data.get("dataPoints", []):
            out.append({kv["key"]: kv["value"].get("stringValue") for kv in p.get("attributes", [])})
    return out


def test_a_framework_queue_names_the_system_and_queue_at_the_collector(
        collector: Collector) -> None:
    service = service_name("start-send")
    run_worker("""
        import ffitel
        ffitel.init_telemetry()
        with ffitel.span("request"):
            s = ffitel.start_send("app.add", system="celery", destination="mail")
            carrier = s.carrier
            s.end()
            failed = ffitel.start_send("app.add", system="celery", destination="mail")
            failed.end(ok=False, error="broker down")
        t = ffitel.start_task("app.add", worker="w", task_id="c-1", carrier=carrier,
                              system="celery", destination="mail")
        t.end(ok=True)
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})

    def arrived() -> Optional[List[Dict[str, Any]]]:
        spans = collector.spans(service)
        return spans if len(spans) == 4 else None

    spans = wait_for(arrived)
    assert spans, "spans did not arrive"
    sends = [s for s in spans if s["name"] == "send app.add"]
    (task,) = [s for s in spans if s["name"] == "process app.add"]
    ok = next(s for s in sends if s.get("status", {}).get("code", 0) != 2)
    bad = next(s for s in sends if s.get("status", {}).get("code", 0) == 2)
    assert bad["status"].get("message") == "broker down"
    assert ok["kind"] == 4  # SPAN_KIND_PRODUCER in OTLP JSON
    for s in (ok, task):
        assert s["attrs"]["messaging.system"] == "celery"
        assert s["attrs"]["messaging.destination.name"] == "mail"
    assert task["parentSpanId"] == ok["spanId"] and task["traceId"] == ok["traceId"]

    def consumed() -> List[Dict[str, Any]]:
        return [p for p in _points(collector.metrics(service), "messaging.client.consumed.messages")
                if p.get("messaging.system") == "celery"]

    points = wait_for(consumed)
    assert points and points[0]["messaging.destination.name"] == "mail", points

"""ffitel.start_task: a task attempt without a block, for hooks that start and
end a job in two places (a job framework's before/after signals)."""

from __future__ import annotations

from typing import Any, Dict, List, Optional

import pytest

from conftest import Collector, logged, run_worker, service_name, wait_for

import ffitel

pytestmark = pytest.mark.usefixtures("console")


def test_start_task_returns_a_task_that_end_finishes() -> None:
    with ffitel.span("poll queue") as poll:
        t = ffitel.start_task("SendReport", worker="w", task_id="t-1", attempt=1)
        assert isinstance(t, ffitel.Task) and isinstance(t, ffitel.Span)
        assert t.name == "process SendReport" and t.is_recording
        assert ffitel.current_span() is poll  # started, not made current
        assert t.trace_id == poll.trace_id  # no carrier: a child of the current span
    t.end(ok=True)
    assert not t.is_recording
    t.end(ok=False, error_type="late")  # idempotent: already ended


def test_start_task_checks_its_arguments() -> None:
    with pytest.raises(ValueError, match="task_type"):
        ffitel.start_task("")
    with pytest.raises(ValueError, match="unknown task propagation"):
        ffitel.start_task("SendReport", propagation="sideways")


def test_start_task_without_the_library_is_a_noop() -> None:
    proc = run_worker("""
        import ffitel
        t = ffitel.start_task("SendReport")
        print("recording:", t.is_recording)
        t.end(ok=False, error_type="Boom")
        print("ended")
    """, env={"FFITEL_LIBRARY": "/nonexistent/libffitel.so"})
    assert "recording: False" in proc.stdout and "ended" in proc.stdout
    assert "tasks run without telemetry" in proc.stderr


def _points(metrics: List[Dict[str, Any]], name: str) -> List[Dict[str, Any]]:
    docs = [m for m in metrics if m["name"] == name]
    if not docs:
        return []
    return [{kv["key"]: kv["value"].get("stringValue") for kv in p.get("attributes", [])}
            for p in docs[-1]["sum"]["dataPoints"]]


def test_start_task_end_reaches_the_collector(collector: Collector) -> None:
    service = service_name("start-task")
    run_worker("""
        import ffitel
        ffitel.init_telemetry()
        ffitel.start_task("Mail", worker="mailer", task_id="m-1").end(ok=True)
        ffitel.start_task("Mail", worker="mailer", task_id="m-2").end(
            ok=False, error_type="TimeoutError")
        ffitel.start_task("Mail", worker="mailer", task_id="m-3").end(ok=False)
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})

    def spans_arrived() -> Optional[Dict[str, Dict[str, Any]]]:
        spans = {s["attrs"]["messaging.message.id"]: s for s in collector.spans(service)
                 if s["name"] == "process Mail"}
        return spans if len(spans) == 3 else None

    spans = wait_for(spans_arrived)
    assert spans, "task spans did not arrive"
    assert spans["m-1"].get("status", {}).get("code", 0) != 2
    assert "error.type" not in spans["m-1"]["attrs"]
    assert spans["m-2"]["status"]["code"] == 2
    assert spans["m-2"]["attrs"]["error.type"] == "TimeoutError"
    assert spans["m-3"]["attrs"]["error.type"] == "_OTHER"  # failed, no type given

    def metrics_arrived() -> Optional[List[Dict[str, Any]]]:
        points = _points(collector.metrics(service), "messaging.client.consumed.messages")
        return points if len(points) == 3 else None

    points = wait_for(metrics_arrived)
    assert points, "task metrics did not arrive"
    assert sorted(p.get("error.type", "") for p in points) == ["", "TimeoutError", "_OTHER"]


def test_a_started_task_made_current_with_use_carries_logs(
        capfd: pytest.CaptureFixture[str]) -> None:
    # _spans.use is the one internal way to make a span current (hooks, bridges)
    from ffitel import _spans

    t = ffitel.start_task("SendReport", task_id="t-use")
    ids = f"trace_id={t.trace_id} span_id={t.span_id}"  # read while it is open
    logged(capfd)
    with _spans.use(t):
        assert ffitel.current_span() is t
        ffitel.info("inside the hook's task")
    assert ffitel.current_span() is None
    t.end(ok=True)
    assert ids in logged(capfd)

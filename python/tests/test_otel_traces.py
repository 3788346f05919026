"""The OpenTelemetry API on ffitel: one context, one trace, against the real
Collector (ffitel.opentelemetry; opentelemetry-api from scripts/install-deps.sh)."""

from __future__ import annotations

from typing import Any, Dict, List

from conftest import Collector, run_worker, service_name, wait_for


def _by_name(collector: Collector, service: str, names: List[str]) -> Dict[str, Any]:
    def ready() -> Any:
        spans = {s["name"]: s for s in collector.spans(service)}
        return spans if set(names) <= spans.keys() else None
    spans = wait_for(ready)
    assert spans, f"spans did not arrive: {[s['name'] for s in collector.spans(service)]}"
    return spans


def test_ffitel_span_then_api_span_then_log(collector: Collector) -> None:
    service = service_name("otel-api")
    out = run_worker("""
        import sys, ffitel
        assert "opentelemetry" not in sys.modules, "import ffitel imported opentelemetry"
        ffitel.init_telemetry()
        from opentelemetry import trace, propagate
        from opentelemetry.trace import SpanKind, Status, StatusCode, Link
        tracer = trace.get_tracer("pytest.instrumentation", "1.2")
        with ffitel.fields(tenant="t-9"):
            with ffitel.span("ffitel outer") as outer:
                sc = trace.get_current_span().get_span_context()
                assert f"{sc.trace_id:032x}" == outer.trace_id, (sc, outer.traceparent())
                assert f"{sc.span_id:016x}" == outer.span_id
                with tracer.start_as_current_span(
                        "api client", kind=SpanKind.CLIENT, attributes={"http.method": "GET"},
                        links=[Link(sc, {"why": "test"})]) as api:
                    ids = api.get_span_context()
                    cur = ffitel.current_span()
                    assert cur is not None and cur.span_id == f"{ids.span_id:016x}", cur
                    carrier = {}
                    propagate.inject(carrier)
                    assert carrier["traceparent"] == ffitel.inject()["traceparent"], carrier
                    assert carrier["traceparent"].split("-")[2] == f"{ids.span_id:016x}"
                    api.set_attribute("http.status_code", 503)
                    api.add_event("retrying", {"attempt": 2})
                    ffitel.info("inside api span", step=1)
                    with ffitel.span("ffitel inner"):
                        ffitel.info("inside ffitel inner")
                try:
                    with tracer.start_as_current_span("api failing"):
                        raise ValueError("boom")
                except ValueError:
                    pass
                s = tracer.start_span("api manual", start_time=1_700_000_000_000_000_000)
                s.update_name("api renamed")
                s.set_status(Status(StatusCode.OK))
                s.end(end_time=1_700_000_000_500_000_000)
            assert ffitel.current_span() is None
            assert not trace.get_current_span().get_span_context().is_valid
        print("API-TRACEPARENT", carrier["traceparent"])
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    tp = [line.split()[1] for line in out.stdout.splitlines() if line.startswith("API-TRACEPARENT")]
    assert tp, out.stdout

    spans = _by_name(collector, service,
                     ["ffitel outer", "api client", "ffitel inner", "api failing", "api renamed"])
    outer, api, inner = spans["ffitel outer"], spans["api client"], spans["ffitel inner"]
    assert {s["traceId"] for s in spans.values()} == {outer["traceId"]}, "not one trace"
    assert api["parentSpanId"] == outer["spanId"]
    assert inner["parentSpanId"] == api["spanId"]
    assert tp[0] == f"00-{api['traceId']}-{api['spanId']}-01"
    assert api["kind"] == 3  # OTLP SPAN_KIND_CLIENT
    assert api["resource"]["service.name"] == service
    assert api["attrs"]["http.method"] == "GET" and api["attrs"]["http.status_code"] == 503
    assert api["attrs"]["tenant"] == "t-9", "ffitel.fields did not reach the API span"
    assert [e["name"] for e in api.get("events", [])] == ["retrying"]
    assert api["links"][0]["spanId"] == outer["spanId"]
    failing = spans["api failing"]
    assert failing["status"]["code"] == 2 and "ValueError: boom" in failing["status"]["message"]
    exc = [e for e in failing.get("events", []) if e["name"] == "exception"]
    assert exc and any(kv["key"] == "exception.type" and kv["value"]["stringValue"] == "ValueError"
                       for kv in exc[0]["attributes"])
    renamed = spans["api renamed"]
    assert renamed["status"]["code"] == 1
    assert renamed["startTimeUnixNano"] == "1700000000000000000"
    assert renamed["endTimeUnixNano"] == "1700000000500000000"

    def logs() -> Any:
        by = {r["body"].get("stringValue"): r for r in collector.logs(service)}
        return by if {"inside api span", "inside ffitel inner"} <= by.keys() else None
    records = wait_for(logs)
    assert records, "logs did not arrive"
    rec = records["inside api span"]
    assert rec["traceId"] == api["traceId"] and rec["spanId"] == api["spanId"]
    assert rec["attrs"]["tenant"] == "t-9" and rec["attrs"]["step"] == 1
    assert records["inside ffitel inner"]["spanId"] == inner["spanId"]

    scopes = [sc["scope"].get("name") for doc in collector._lines("traces.jsonl")
              for rs in doc.get("resourceSpans", []) for sc in rs.get("scopeSpans", [])
              if any(sp["spanId"] == api["spanId"] for sp in sc.get("spans", []))]
    assert scopes == ["pytest.instrumentation"], scopes


def test_api_span_then_ffitel_span_then_task(collector: Collector) -> None:
    service = service_name("otel-task")
    run_worker("""
        import asyncio, threading, contextvars, ffitel
        ffitel.init_telemetry()
        from opentelemetry import trace
        tracer = trace.get_tracer("pytest.jobs")
        with tracer.start_as_current_span("api root") as root:
            with ffitel.span("ffitel middle") as mid:
                with ffitel.task("SendReport", worker="w1", task_id="t-1", attempt=1):
                    ffitel.info("in task")
            async def in_task():
                return ffitel.current_span().span_id
            assert asyncio.run(in_task()) == f"{root.get_span_context().span_id:016x}"
            seen = []
            ctx = contextvars.copy_context()
            th = threading.Thread(target=lambda: seen.append(ctx.run(
                lambda: (ffitel.current_span().span_id,
                         trace.get_current_span().get_span_context().span_id))))
            th.start(); th.join()
            assert seen[0][0] == f"{seen[0][1]:016x}" == f"{root.get_span_context().span_id:016x}"
            bare = []
            th = threading.Thread(target=lambda: bare.append(
                (ffitel.current_span(), trace.get_current_span().get_span_context().is_valid)))
            th.start(); th.join()
            assert bare == [(None, False)], bare
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    spans = _by_name(collector, service, ["api root", "ffitel middle", "process SendReport"])
    root, mid, task = spans["api root"], spans["ffitel middle"], spans["process SendReport"]
    assert root["traceId"] == mid["traceId"] == task["traceId"], "not one trace"
    assert not root.get("parentSpanId")
    assert mid["parentSpanId"] == root["spanId"]
    assert task["parentSpanId"] == mid["spanId"]


def test_remote_parent_from_extract(collector: Collector) -> None:
    service = service_name("otel-remote")
    remote_trace, remote_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    run_worker(f"""
        import ffitel
        ffitel.init_telemetry()
        from opentelemetry import context, propagate, trace
        ctx = propagate.extract({{"traceparent": "00-{remote_trace}-{remote_span}-01"}})
        token = context.attach(ctx)
        try:
            assert ffitel.inject()["traceparent"] == "00-{remote_trace}-{remote_span}-01"
            with ffitel.span("ffitel under remote"):
                pass
            with ffitel.task("RemoteJob", worker="w", task_id="t1"):  # no carrier: the API context's parent
                pass
            with trace.get_tracer("x").start_as_current_span("api under attached remote"):
                pass
        finally:
            context.detach(token)
        with trace.get_tracer("x").start_as_current_span("api under remote", context=ctx):
            pass
        assert ffitel.current_span() is None
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    spans = _by_name(collector, service, ["ffitel under remote", "api under remote",
                                          "process RemoteJob", "api under attached remote"])
    for s in spans.values():
        assert s["traceId"] == remote_trace and s["parentSpanId"] == remote_span, s


def test_unsampled_api_spans_record_nothing_but_propagate(collector: Collector) -> None:
    service = service_name("otel-unsampled")
    run_worker("""
        import ffitel
        ffitel.init_telemetry()
        from opentelemetry import trace, propagate
        tracer = trace.get_tracer("x")
        with tracer.start_as_current_span("never exported") as s:
            assert not s.is_recording()
            sc = s.get_span_context()
            assert sc.is_valid and not sc.trace_flags.sampled
            c = {}
            propagate.inject(c)
            assert c["traceparent"].endswith("-00"), c
            s.set_attribute("ignored", 1)
        with ffitel.span("sampled marker", traceparent="00-" + "1" * 32 + "-" + "2" * 16 + "-01"):
            pass
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service,
              "OTEL_TRACES_SAMPLER": "parentbased_always_off"})
    spans = _by_name(collector, service, ["sampled marker"])
    assert "never exported" not in spans


def test_api_span_current_through_one_contextvar(collector: Collector) -> None:
    # start_as_current_span sets ffitel's contextvar alone; the API's Context
    # must still show the span, keep other values, and survive attach/detach.
    service = service_name("otel-onevar")
    run_worker("""
        import ffitel
        from ffitel._spans import use  # as ffitel.celery re-attaches a span
        ffitel.init_telemetry()
        from opentelemetry import context, trace
        tracer = trace.get_tracer("x")
        key = context.create_key("k")
        token = context.attach(context.set_value(key, "outside"))
        with tracer.start_as_current_span("api a") as a:
            assert trace.get_current_span() is a
            assert context.get_value(key) == "outside"
            assert context.get_current() is context.get_current()  # cached while unchanged
            face = ffitel.current_span()
            assert isinstance(face, ffitel.Span) and face.span_id == f"{a.get_span_context().span_id:016x}"
            t2 = context.attach(context.set_value(key, "inside"))
            assert trace.get_current_span() is a and ffitel.current_span().span_id == face.span_id
            with tracer.start_as_current_span("api b") as b:
                assert trace.get_current_span() is b and context.get_value(key) == "inside"
                with use(face):  # the ffitel.Span face made current again: a
                    assert trace.get_current_span() is a
                    with tracer.start_as_current_span("api c", context=context.get_current()):
                        pass
                assert trace.get_current_span() is b
            context.detach(t2)
            assert trace.get_current_span() is a and context.get_value(key) == "outside"
            with ffitel.span("ffitel d"):
                assert trace.get_current_span().get_span_context().span_id != a.get_span_context().span_id
            assert trace.get_current_span() is a
        assert not trace.get_current_span().get_span_context().is_valid
        assert ffitel.current_span() is None and context.get_value(key) == "outside"
        context.detach(token)
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    spans = _by_name(collector, service, ["api a", "api b", "api c", "ffitel d"])
    assert len({s["traceId"] for s in spans.values()}) == 1
    a_id = spans["api a"]["spanId"]
    assert spans["api b"]["parentSpanId"] == a_id
    assert spans["api c"]["parentSpanId"] == a_id
    assert spans["ffitel d"]["parentSpanId"] == a_id


def test_context_edges_around_a_lazily_current_ffitel_span(collector: Collector) -> None:
    """ffitel.span is made current by ffitel's contextvar alone (the API's
    Context is built when asked): what the API's own attach/detach did
    around it still holds."""
    service = service_name("otel-lazy")
    remote_trace, remote_span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
    run_worker(f"""
        import contextvars, ffitel
        ffitel.init_telemetry()
        from opentelemetry import trace, context, baggage, propagate
        # An extracted remote context attached: the API sees the remote span
        # itself, trace state included (not ffitel's placeholder for it).
        tok = context.attach(propagate.extract(
            {{"traceparent": "00-{remote_trace}-{remote_span}-01", "tracestate": "vendor=abc"}}))
        sc = trace.get_current_span().get_span_context()
        assert sc.is_remote and sc.trace_state.get("vendor") == "abc", sc
        carrier = {{}}
        propagate.inject(carrier)
        assert carrier.get("tracestate") == "vendor=abc", carrier
        with ffitel.span("child of remote") as s:
            assert s.trace_id == "{remote_trace}"
            assert trace.get_current_span().get_span_context().span_id == int(s.span_id, 16)
        context.detach(tok)
        # A Context attached inside the span and never detached does not
        # outlive the span (the API's detach at the span's end dropped it).
        with ffitel.span("request"):
            context.attach(baggage.set_baggage("user", "42"))
        assert baggage.get_baggage("user") is None
        assert not trace.get_current_span().get_span_context().is_valid
        # A generator's span entered in one Context and finished in another:
        # the span ends, and the mismatch is logged, not raised.
        def rows():
            with ffitel.span("query"):
                yield 1
                yield 2
        g = rows()
        assert contextvars.copy_context().run(next, g) == 1
        assert list(g) == [2]
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    spans = _by_name(collector, service, ["child of remote", "request", "query"])
    child = spans["child of remote"]
    assert child["traceId"] == remote_trace and child["parentSpanId"] == remote_span
    assert "ffitel.ended_at_shutdown" not in spans["query"]["attrs"], spans["query"]

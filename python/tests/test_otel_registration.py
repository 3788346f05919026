"""When ffitel registers as the OpenTelemetry API's engine, and when it does
not: another provider already set, FFITEL_OTEL_API=off, no API installed,
and a child forked after the library loaded (the fallback path)."""

from __future__ import annotations

from conftest import Collector, run_worker, service_name, wait_for


def test_sdk_provider_already_registered_is_left_alone(collector: Collector) -> None:
    service = service_name("otel-sdk")
    proc = run_worker("""
        import warnings, ffitel
        from opentelemetry import trace, metrics
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor
        from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
        sdk, exported = TracerProvider(), InMemorySpanExporter()
        sdk.add_span_processor(SimpleSpanProcessor(exported))
        trace.set_tracer_provider(sdk)
        warnings.simplefilter("always")
        ffitel.init_telemetry()
        import ffitel.opentelemetry as fo
        assert fo.register() is False  # explicit: still left alone, no second warning
        ffitel.init_telemetry()
        assert trace.get_tracer_provider() is sdk, "the SDK provider was replaced"
        assert not fo.registered()
        with ffitel.span("ffitel still works"):
            ffitel.info("logged")
            with trace.get_tracer("x").start_as_current_span("sdk span"):
                pass
        assert [s.name for s in exported.get_finished_spans()] == ["sdk span"]
        metrics.get_meter("m").create_counter("pytest.sdk.c").add(1)
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    warnings_seen = proc.stderr.count("another OpenTelemetry TracerProvider")
    assert warnings_seen == 1, proc.stderr[-3000:]
    assert "opentelemetry.sdk.trace.TracerProvider" in proc.stderr
    spans = wait_for(lambda: [s for s in collector.spans(service) if s["name"] == "ffitel still works"])
    assert spans, "the ffitel span did not arrive"
    assert not [s for s in collector.spans(service) if s["name"] == "sdk span"]


def test_otel_api_off_leaves_the_api_alone() -> None:
    proc = run_worker("""
        import sys, ffitel
        ffitel.init_telemetry()
        assert "opentelemetry" not in sys.modules, "FFITEL_OTEL_API=off imported the API"
        from opentelemetry import trace
        with ffitel.span("ffitel only"):
            assert not trace.get_current_span().get_span_context().is_valid
        assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        import ffitel.opentelemetry as fo
        assert fo.register() is True  # explicit registration still works
        with ffitel.span("joined") as s:
            assert trace.get_current_span().get_span_context().span_id == int(s.span_id, 16)
        print("OFF-OK")
    """, env={"FFITEL_OTEL_API": "off"})
    assert "OFF-OK" in proc.stdout
    assert "another OpenTelemetry" not in proc.stderr


def test_a_bad_otel_api_value_warns_once_and_uses_auto() -> None:
    proc = run_worker("""
        import ffitel
        ffitel.init_telemetry()
        import ffitel.opentelemetry as fo
        assert fo.registered(), "an unknown value must act as auto"
        print("AUTO-OK")
    """, env={"FFITEL_OTEL_API": "maybe"})
    assert "AUTO-OK" in proc.stdout
    assert proc.stderr.count("invalid FFITEL_OTEL_API='maybe'") == 1, proc.stderr[-2000:]
    assert "using auto" in proc.stderr


def test_without_the_api_installed_init_telemetry_still_works() -> None:
    proc = run_worker("""
        import sys
        sys.modules["opentelemetry"] = None  # as if opentelemetry-api were not installed
        import ffitel
        ffitel.init_telemetry()
        with ffitel.span("no api"):
            ffitel.info("fine")
        print("NOAPI-OK")
    """)
    assert "NOAPI-OK" in proc.stdout


def test_fork_after_load_falls_back_quietly(collector: Collector) -> None:
    service = service_name("otel-fork")
    proc = run_worker("""
        import os, sys, ffitel
        ffitel.init_telemetry()
        from opentelemetry import trace, metrics, propagate
        tracer = trace.get_tracer("x")
        counter = metrics.get_meter("m").create_counter("pytest.fork.c")
        with tracer.start_as_current_span("parent api") as parent:
            tp = ffitel.inject()["traceparent"]
            pid = os.fork()
            if pid == 0:
                try:
                    with tracer.start_as_current_span("child api") as child:
                        assert not child.is_recording()
                        # the parent's ids still propagate from the child
                        c = {}
                        propagate.inject(c)
                        assert c["traceparent"] == tp, (c, tp)
                        with ffitel.span("child ffitel"):
                            ffitel.info("child record")
                    counter.add(1)
                    print("CHILD-OK", flush=True)
                    os._exit(0)
                except BaseException as exc:
                    print("CHILD-FAILED", repr(exc), flush=True)
                    os._exit(1)
            _, status = os.waitpid(pid, 0)
            assert os.WEXITSTATUS(status) == 0, status
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})
    assert "CHILD-OK" in proc.stdout, proc.stdout + proc.stderr[-2000:]
    assert "child record" in proc.stderr  # the stderr fallback
    assert "was loaded before this process" in proc.stderr
    spans = wait_for(lambda: [s for s in collector.spans(service) if s["name"] == "parent api"])
    assert spans
    assert not [s for s in collector.spans(service) if s["name"].startswith("child")]

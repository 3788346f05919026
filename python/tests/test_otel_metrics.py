"""OpenTelemetry API instruments exported through ffitel to the real Collector."""

from __future__ import annotations

from typing import Any, Dict

from conftest import Collector, run_worker, service_name, wait_for

_NAMES = ["pytest.api.requests", "pytest.api.inflight", "pytest.api.latency", "pytest.api.temp",
          "pytest.api.obs_total", "pytest.api.obs_queue", "pytest.api.obs_load"]


def test_api_instruments_arrive(collector: Collector) -> None:
    service = service_name("otel-metrics")
    run_worker("""
        import ffitel
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        meter = metrics.get_meter("pytest.meter", "0.1")  # before init: a proxy until registered
        requests = meter.create_counter("pytest.api.requests", unit="{request}", description="reqs")
        ffitel.init_telemetry()
        requests.add(2, {"route": "/a"})
        requests.add(3, {"route": "/a"})
        requests.add(-1, {"route": "/a"})  # not a counter's: ignored, never raises
        inflight = meter.create_up_down_counter("pytest.api.inflight", unit="{request}")
        inflight.add(5); inflight.add(-2)
        latency = meter.create_histogram("pytest.api.latency", unit="ms")
        for v in (10, 20, 30):
            latency.record(v, {"route": "/a"})
        meter.create_gauge("pytest.api.temp", unit="Cel").set(21.5, {"room": "lab"})
        calls = []
        def total(options):
            calls.append(1)
            yield Observation(42, {"source": "cb"})
        meter.create_observable_counter("pytest.api.obs_total", callbacks=[total], unit="By")
        meter.create_observable_up_down_counter(
            "pytest.api.obs_queue", callbacks=[lambda o: [Observation(-3)]])
        def broken(options):
            raise RuntimeError("callback bug")
        meter.create_observable_gauge(
            "pytest.api.obs_load", callbacks=[broken, lambda o: [Observation(0.75, {"cpu": "0"})]])
        assert ffitel.flush(timeout=5.0)
        assert calls, "the observable callback was not called by a collection"
        assert ffitel.shutdown(timeout=5.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})

    def ready() -> Any:
        by: Dict[str, Any] = {}
        for m in collector.metrics(service):
            by.setdefault(m["name"], m)
        return by if set(_NAMES) <= by.keys() else None
    by = wait_for(ready)
    assert by, f"metrics missing: {sorted({m['name'] for m in collector.metrics(service)})}"

    def last_point(name: str, kind: str) -> Dict[str, Any]:
        points = [p for m in collector.metrics(service) if m["name"] == name
                  for p in m[kind]["dataPoints"]]
        return points[-1]

    req = by["pytest.api.requests"]
    assert req["unit"] == "{request}" and req["description"] == "reqs"
    assert req["sum"]["isMonotonic"] and last_point("pytest.api.requests", "sum")["asDouble"] == 5
    assert not by["pytest.api.inflight"]["sum"].get("isMonotonic")
    assert last_point("pytest.api.inflight", "sum")["asDouble"] == 3
    h = last_point("pytest.api.latency", "histogram")
    assert by["pytest.api.latency"]["unit"] == "ms"
    assert int(h["count"]) == 3 and h["sum"] == 60
    g = last_point("pytest.api.temp", "gauge")
    assert g["asDouble"] == 21.5 and by["pytest.api.temp"]["unit"] == "Cel"
    obs = last_point("pytest.api.obs_total", "sum")
    assert obs["asDouble"] == 42 and by["pytest.api.obs_total"]["unit"] == "By"
    assert last_point("pytest.api.obs_queue", "sum")["asDouble"] == -3
    assert last_point("pytest.api.obs_load", "gauge")["asDouble"] == 0.75

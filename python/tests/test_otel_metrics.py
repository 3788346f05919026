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


def test_observables_are_pushed_by_a_host_thread_before_each_export(collector: Collector) -> None:
    """The library never calls into Python: a daemon thread of ffitel.opentelemetry
    runs observable callbacks before each periodic export. A pre-forking master
    that made the instrument starts no thread (nothing loaded); its forked child
    gets one, and its values arrive without any flush or shutdown (os._exit)."""
    service = service_name("otel-observe")
    proc = run_worker("""
        import os, threading, time, ffitel
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        ffitel.init_telemetry.__doc__  # the master imports ffitel and makes meters, loads nothing
        seen = []
        def load(options):
            seen.append(threading.current_thread().name)
            return [Observation(len(seen), {"pid": "child"})]
        meter = metrics.get_meter("pytest.observe")
        def observe_threads():
            return [t for t in threading.enumerate() if t.name == "ffitel-otel-observe"]
        pid = os.fork()
        if pid == 0:
            try:
                ffitel.init_telemetry()  # registers the providers: the proxy meter becomes ffitel's
                meter.create_observable_gauge("pytest.api.obs_periodic", callbacks=[load])
                threads = observe_threads()
                assert len(threads) == 1 and threads[0].daemon, threads
                time.sleep(3.0)
                assert len(seen) >= 3, seen
                assert set(seen) == {"ffitel-otel-observe"}, seen
                print("child ok", len(seen), flush=True)
                os._exit(0)  # no flush, no shutdown: only the periodic exports carried values
            except BaseException as exc:
                print("child failed", repr(exc), flush=True)
                os._exit(1)
        _, status = os.waitpid(pid, 0)
        assert not observe_threads(), "the master started the observe thread"
        assert status == 0, status
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service, "OTEL_METRIC_EXPORT_INTERVAL": "500"})
    assert "child ok" in proc.stdout, proc.stdout + proc.stderr[-3000:]
    points = wait_for(lambda: [p for m in collector.metrics(service) if m["name"] == "pytest.api.obs_periodic"
                               for p in m["gauge"]["dataPoints"]])
    assert points, "no periodic export carried the observable gauge"
    assert max(p["asDouble"] for p in points) >= 2  # a later run of the callback, not only the first


def test_a_process_with_observables_exits_without_shutdown(collector: Collector) -> None:
    """The observe thread is a daemon: a script that never calls shutdown still exits."""
    proc = run_worker("""
        import ffitel
        from opentelemetry import metrics
        from opentelemetry.metrics import Observation
        ffitel.init_telemetry()
        metrics.get_meter("m").create_observable_counter("pytest.api.obs_exit",
                                                         callbacks=[lambda o: [Observation(1)]])
        print("done", flush=True)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service_name("otel-exit")}, timeout=30)
    assert "done" in proc.stdout

"""ffitel.celery against real parts: redis-server, a `celery worker` with the
prefork pool (concurrency 2, every pool process recycled after one task),
the example app examples/celery/shop.py, and the Collector."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

import pytest

from conftest import REPO, Collector, run_worker, service_name, wait_for, worker_env
from redisserver import RedisServer, redis_server  # noqa: F401 - the fixture

EXAMPLE = REPO / "examples" / "celery"


def _celery_available() -> None:
    try:
        import celery  # noqa: F401
        import redis  # noqa: F401
    except ImportError as exc:
        pytest.fail(f"Celery with its redis client is missing ({exc}): "
                    "run scripts/install-deps.sh", pytrace=False)


def _jobs_done(log: str) -> bool:
    """Celery logged the end of every job: charge and notify (after its retry)
    succeeded, ship failed."""
    lines = log.splitlines()
    return all(any(f"Task shop.{name}[" in line and outcome in line for line in lines)
               for name, outcome in (("charge", "succeeded in"), ("notify", "succeeded in"),
                                     ("ship", "raised unexpected")))


class Run:
    """One producer run and one worker run, with what reached the Collector."""

    def __init__(self, collector: Collector, producer_service: str, worker_service: str,
                 produced: Dict[str, Any], worker_pid: int, worker_log: str,
                 master_maps: str) -> None:
        self.collector = collector
        self.producer_service = producer_service
        self.worker_service = worker_service
        self.produced = produced
        self.worker_pid = worker_pid
        self.worker_log = worker_log
        self.master_maps = master_maps

    def spans(self) -> List[Dict[str, Any]]:
        return (self.collector.spans(self.producer_service)
                + self.collector.spans(self.worker_service))

    def task_spans(self, task_id: str) -> List[Dict[str, Any]]:
        spans = [s for s in self.collector.spans(self.worker_service)
                 if s["attrs"].get("messaging.message.id") == task_id
                 and s["name"].startswith("process ")]
        return sorted(spans, key=lambda s: s["attrs"]["ffitel.task.attempt"])

    def send_span(self, task_id: str) -> Dict[str, Any]:
        (s,) = [s for s in self.collector.spans(self.producer_service)
                if s["name"].startswith("send ") and s["attrs"].get("messaging.message.id") == task_id]
        return s


@pytest.fixture(scope="module")
def run(collector: Collector, redis_server: RedisServer,  # noqa: F811
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    _celery_available()
    tmp = tmp_path_factory.mktemp("celery")
    producer_service = service_name("celery-producer")
    worker_service = service_name("celery-worker")
    # Long export delays: what a recycled pool process logged reaches the
    # Collector only if worker_process_shutdown flushes it.
    slow = {"OTEL_BLRP_SCHEDULE_DELAY": "600000", "OTEL_BSP_SCHEDULE_DELAY": "600000",
            "OTEL_METRIC_EXPORT_INTERVAL": "600000"}
    env = worker_env({**collector.env(), **slow, "CELERY_BROKER": redis_server.url,
                      "OTEL_SERVICE_NAME": worker_service})
    env["PYTHONPATH"] = str(EXAMPLE) + os.pathsep + env["PYTHONPATH"]
    log = open(tmp / "worker.log", "w+")
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "shop", "worker", "--pool=prefork",
         "--concurrency=2", "--max-tasks-per-child=1", "-Q", "shop", "-l", "INFO",
         "--without-heartbeat", "--without-gossip", "--without-mingle", "-n", "shop@pytest"],
        env=env, cwd=str(tmp), stdout=log, stderr=subprocess.STDOUT)
    try:
        proc = run_worker(f"""
            import runpy, sys
            sys.argv = ["producer.py"]
            runpy.run_path({str(EXAMPLE / "producer.py")!r}, run_name="__main__")
        """, env={**collector.env(), "CELERY_BROKER": redis_server.url,
                  "OTEL_SERVICE_NAME": producer_service})
        produced = json.loads(proc.stdout.strip().splitlines()[-1])

        def attempts_done() -> bool:  # four attempts: charge, ship, notify twice
            return _jobs_done((tmp / "worker.log").read_text())
        assert wait_for(attempts_done, timeout=60), \
            "the worker did not run the jobs:\n" + (tmp / "worker.log").read_text()[-4000:]
        maps = Path(f"/proc/{worker.pid}/maps").read_text()
    finally:
        worker.send_signal(signal.SIGTERM)  # warm shutdown: the pool processes exit
        try:
            worker.wait(60)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    log.seek(0)
    r = Run(collector, producer_service, worker_service, produced, worker.pid, log.read(), maps)
    log.close()

    def delivered() -> bool:
        return all(len(r.task_spans(t)) == (2 if name == "notify" else 1)
                   for name, t in produced["tasks"].items())
    assert wait_for(delivered, timeout=30), \
        f"task spans missing at the Collector; worker log:\n{r.worker_log[-4000:]}"
    yield r


def test_each_first_attempt_is_a_child_of_its_send_span(run: Run) -> None:
    for name, task_id in run.produced["tasks"].items():
        send = run.send_span(task_id)
        assert send["traceId"] == run.produced["trace_id"], "send spans are in the request's trace"
        assert send["kind"] == 4  # PRODUCER
        assert send["attrs"]["messaging.system"] == "celery"
        assert send["attrs"]["messaging.destination.name"] == "shop"
        first = run.task_spans(task_id)[0]
        assert first["name"] == f"process shop.{name}"
        assert first["kind"] == 5  # CONSUMER
        assert first["traceId"] == send["traceId"] and first["parentSpanId"] == send["spanId"]
        assert first["attrs"]["ffitel.task.attempt"] == 1
        assert first["attrs"]["messaging.system"] == "celery"
        assert first["attrs"]["messaging.destination.name"] == "shop"
        assert first["attrs"]["messaging.consumer.group.name"] == "shop@pytest"


def test_the_retry_is_a_new_trace_linked_to_the_send_span(run: Run) -> None:
    task_id = run.produced["tasks"]["notify"]
    send = run.send_span(task_id)
    first, retry = run.task_spans(task_id)
    assert retry["attrs"]["ffitel.task.attempt"] == 2
    assert retry["traceId"] != send["traceId"]
    assert not retry.get("parentSpanId")
    assert [(link["traceId"], link["spanId"]) for link in retry.get("links", [])] == \
        [(send["traceId"], send["spanId"])]
    # The retried attempt failed (and says it was retried); the retry succeeded.
    assert first["status"]["code"] == 2
    assert first["attrs"]["error.type"] == "ConnectionError"
    assert first["attrs"]["celery.retry.scheduled"] is True
    assert retry.get("status", {}).get("code", 0) != 2
    # Celery re-published the retry: no second send span.
    sends = [s for s in run.collector.spans(run.worker_service) if s["name"].startswith("send ")]
    assert sends == []


def test_the_failure_has_error_status_type_and_exception(run: Run) -> None:
    (span,) = run.task_spans(run.produced["tasks"]["ship"])
    assert span["status"]["code"] == 2
    assert span["attrs"]["error.type"] == "ValueError"
    (event,) = [e for e in span.get("events", []) if e["name"] == "exception"]
    attrs = {kv["key"]: kv["value"].get("stringValue") for kv in event["attributes"]}
    assert attrs["exception.message"] == "no address for order 42"
    assert "raise ValueError" in attrs["exception.stacktrace"]
    (ok,) = run.task_spans(run.produced["tasks"]["charge"])
    assert ok.get("status", {}).get("code", 0) != 2 and "error.type" not in ok["attrs"]


def _points(collector: Collector, service: str, name: str) -> List[Dict[str, Any]]:
    out = []
    for m in collector.metrics(service):
        if m["name"] != name:
            continue
        data = m.get("sum") or m.get("histogram") or {}
        for p in data.get("dataPoints", []):
            attrs = {kv["key"]: kv["value"].get("stringValue") for kv in p.get("attributes", [])}
            out.append({**attrs, "_value": int(p.get("asInt", p.get("count", 0)))})
    return out


def test_the_messaging_metrics_carry_celery_and_the_queue(run: Run) -> None:
    for name in ("messaging.client.consumed.messages", "messaging.process.duration"):
        points = wait_for(lambda: _points(run.collector, run.worker_service, name))
        assert points, f"no {name}"
        for p in points:
            assert p["messaging.system"] == "celery" and p["messaging.destination.name"] == "shop", p
        by_error: Dict[Optional[str], int] = {}
        for p in points:  # one point per pool process and outcome (cumulative, each process once)
            by_error[p.get("error.type")] = by_error.get(p.get("error.type"), 0) + p["_value"]
        assert by_error == {None: 2, "ValueError": 1, "ConnectionError": 1}, (name, points)


def test_the_jobs_log_lines_carry_their_span_ids_and_celery_task_id(run: Run) -> None:
    logs = run.collector.logs(run.worker_service)
    for body, name in (("charging order", "charge"), ("charged order 42", "charge"),
                       ("shipping order", "ship"), ("notifying customer", "notify")):
        task_id = run.produced["tasks"][name]
        spans = {(s["traceId"], s["spanId"]) for s in run.task_spans(task_id)}
        records = [r for r in logs if r.get("body", {}).get("stringValue") == body]
        assert records, f"no log line {body!r}"
        for r in records:
            assert (r["traceId"], r["spanId"]) in spans, body
            assert r["attrs"]["celery.task_id"] == task_id, body
    # Celery's own failure line (stdlib logging) also carries the span.
    (ship,) = run.task_spans(run.produced["tasks"]["ship"])
    failure = [r for r in logs if "raised unexpected" in r.get("body", {}).get("stringValue", "")]
    assert failure and failure[0]["spanId"] == ship["spanId"]


def test_every_pool_process_exported_and_the_master_never_loaded_the_library(run: Run) -> None:
    spans = [s for t in run.produced["tasks"].values() for s in run.task_spans(t)]
    pids = {s["resource"]["process.pid"] for s in spans}
    # --max-tasks-per-child=1: each attempt ran in its own pool process.
    assert len(pids) == 4, pids
    assert run.worker_pid not in pids
    assert "libffitel" not in run.master_maps
    assert "cannot export" not in run.worker_log

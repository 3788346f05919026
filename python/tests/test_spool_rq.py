"""RQ's default Worker forks a work horse per job after the worker loaded
ffitel: with the spool on (docs/SPOOL.md), every job's span and records
arrive (written by the horse through C, adopted by the worker)."""

from __future__ import annotations

import json
import re
from collections import defaultdict

from conftest import Collector, run_worker, service_name, wait_for
from redisserver import RedisServer, redis_server  # noqa: F401 - the fixture

JOBS = 20
RECORDS = 10

JOBS_MODULE = f"""
import os
import ffitel


def work(n):
    with ffitel.span("rq job", attributes={{"job": n}}) as s:
        for i in range({RECORDS}):
            ffitel.info("rq job record", job=n, i=i, horse=os.getpid())
        return s.traceparent()
"""


def test_rq_forking_worker_jobs_arrive_through_the_spool(collector: Collector, tmp_path,
                                                         redis_server: RedisServer) -> None:  # noqa: F811
    service = service_name("rq")
    (tmp_path / "rqjobs.py").write_text(JOBS_MODULE)
    env = {**collector.env(), "OTEL_SERVICE_NAME": service, "RQ_URL": redis_server.url,
           "FFITEL_SPOOL_DIR": str(tmp_path / "spool"), "FFITEL_LOG_OUTPUT": "none"}
    run_worker(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import os
        from redis import Redis
        from rq import Queue
        q = Queue("spool", connection=Redis.from_url(os.environ["RQ_URL"]))
        for n in range({JOBS}):
            q.enqueue("rqjobs.work", n, job_id=f"job-{{n}}")
    """, env=env)
    proc = run_worker(f"""
        import sys
        sys.path.insert(0, {str(tmp_path)!r})
        import json, os, time, ffitel
        from redis import Redis
        from rq import Queue, Worker
        ffitel.init_telemetry()
        conn = Redis.from_url(os.environ["RQ_URL"])
        q = Queue("spool", connection=conn)
        w = Worker([q], connection=conn)  # the default: a forked work horse per job
        w.work(burst=True)
        results = {{}}
        for n in range({JOBS}):
            job = q.fetch_job(f"job-{{n}}")
            results[n] = (job.get_status(), job.return_value())
        print("RESULTS", json.dumps(results), flush=True)
        print("WORKER", os.getpid(), flush=True)
        want = {JOBS} * ({RECORDS} + 1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sp = ffitel.stats()["pipeline"]["spool"]
            if sp["recovered"] + sp["spans_recovered"] >= want:
                break
            time.sleep(0.2)
        print("SPOOL", json.dumps(ffitel.stats()["pipeline"]["spool"]), flush=True)
        ffitel.shutdown()
    """, env=env, timeout=180)
    out = proc.stdout
    assert "does not survive fork()" not in proc.stderr
    results = json.loads(re.search(r"^RESULTS (.*)$", out, re.M).group(1))
    worker_pid = int(re.search(r"^WORKER (\d+)$", out, re.M).group(1))
    assert {status for status, _ in results.values()} == {"finished"}, results
    tps = {int(n): tp.split("-") for n, (_, tp) in results.items()}
    assert len({tp[1] for tp in tps.values()}) == JOBS  # a trace per job

    def spans():
        ss = [s for s in collector.spans(service) if s["name"] == "rq job"]
        return ss if len(ss) >= JOBS else None

    ss = wait_for(spans, timeout=30)
    assert ss and len(ss) == JOBS, collector.spans(service)
    assert {(s["traceId"], s["spanId"]) for s in ss} == {(tp[1], tp[2]) for tp in tps.values()}

    def records():
        recs = [r for r in collector.logs(service) if r["body"].get("stringValue") == "rq job record"]
        return recs if len(recs) >= JOBS * RECORDS else None

    recs = wait_for(records, timeout=30)
    assert recs and len(recs) == JOBS * RECORDS, out
    by_job = defaultdict(set)
    for r in recs:
        n = r["attrs"]["job"]
        assert (r["traceId"], r["spanId"]) == (tps[n][1], tps[n][2])
        assert r["attrs"]["horse"] != worker_pid  # written in the forked work horse
        by_job[n].add(r["attrs"]["i"])
    assert by_job == {n: set(range(RECORDS)) for n in range(JOBS)}

"""The spool in forked children (docs/SPOOL.md, "Forked children"): with
FFITEL_SPOOL_DIR set, a child forked after the library reached phase 2 keeps
logging, tracing and running tasks through C alone, with the parent's
fields and current span; the parent adopts the children's segments."""

from __future__ import annotations

import json
import re
from collections import defaultdict

from conftest import Collector, _attrs, run_worker, service_name, wait_for

CHILDREN = 4
RECORDS = 1000


def test_forked_children_log_spans_and_tasks_through_the_spool(collector: Collector, tmp_path) -> None:
    service = service_name("spoolfork")
    proc = run_worker(f"""
        import json, os, sys, time, ffitel
        ffitel.init_telemetry()
        assert ffitel.phase() == "telemetry"

        def spawn(n):
            pid = os.fork()
            if pid:
                return pid
            with ffitel.span("child work", attributes={{"child": n}}) as s:
                tp = s.traceparent()
                for i in range({RECORDS}):
                    ffitel.info("child record", child=n, i=i, odd=[i])  # a list: as text
                s.set_attribute("phase", "done")
                s.set_attributes({{"ratio": 0.5, "ok": True}})
                s.add_event("checkpoint", records={RECORDS}, note="done")
            with ffitel.task("child.job", task_id=f"job-{{n}}") as t:
                ffitel.warning("in task", child=n)
                task_tp = t.traceparent()
            sys.stdout.write(f"CHILD {{n}} {{tp}} {{task_tp}} {{json.dumps(ffitel.inject())}}\\n")
            sys.stdout.flush()
            os._exit(0)

        with ffitel.fields(request="r1"):
            with ffitel.span("parent dispatch") as ps:
                print("PARENT", ps.traceparent(), flush=True)
                pids = [spawn(n) for n in range(2)]  # inside the parent's span
            pids += [spawn(n) for n in range(2, {CHILDREN})]  # a trace of their own
        statuses = [os.waitpid(p, 0)[1] for p in pids]
        print("STATUSES", statuses, flush=True)
        ffitel.info("parent after fork")
        want = {CHILDREN} * ({RECORDS} + 1) + {CHILDREN} * 2  # records, then spans
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sp = ffitel.stats()["pipeline"]["spool"]
            if sp["recovered"] + sp["spans_recovered"] >= want:
                break
            time.sleep(0.2)
        print("SPOOL", json.dumps(ffitel.stats()["pipeline"]["spool"]), flush=True)
        ffitel.shutdown()
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service,
              "FFITEL_SPOOL_DIR": str(tmp_path / "spool"), "FFITEL_LOG_OUTPUT": "none"},
        timeout=120)
    out = proc.stdout
    assert "STATUSES [0, 0, 0, 0]" in out, out + proc.stderr[-3000:]
    assert "does not survive fork()" not in proc.stderr  # no fallback
    parent_tp = re.search(r"^PARENT (\S+)$", out, re.M).group(1)
    _, parent_trace, parent_span, _ = parent_tp.split("-")
    children = {}
    for m in re.finditer(r"^CHILD (\d) (\S+) (\S+) (.*)$", out, re.M):
        n = int(m.group(1))
        children[n] = (m.group(2).split("-"), m.group(3).split("-"), m.group(4))
    assert sorted(children) == list(range(CHILDREN)), out
    for n, (tp, task_tp, injected) in children.items():
        # after the blocks the current span is the parent's (children 0, 1) or none
        assert json.loads(injected) == ({"traceparent": parent_tp} if n < 2 else {})
        assert tp[1] != "0" * 32 and tp[2] != "0" * 16
        if n < 2:
            assert tp[1] == parent_trace  # the parent's span is the child span's parent
        else:
            assert tp[1] != parent_trace
        assert task_tp[1] != tp[1] or n < 2  # the task: no current span, a new trace
    own_traces = {children[n][0][1] for n in range(2, CHILDREN)}
    assert len(own_traces) == CHILDREN - 2

    def records():
        recs = [r for r in collector.logs(service) if r["body"].get("stringValue") == "child record"]
        return recs if len(recs) >= CHILDREN * RECORDS else None

    recs = wait_for(records, timeout=40)
    assert recs, (len([r for r in collector.logs(service)]), out)
    by_child = defaultdict(set)
    for r in recs:
        n = r["attrs"]["child"]
        tp = children[n][0]
        assert r["traceId"] == tp[1] and r["spanId"] == tp[2], r
        assert r["attrs"]["request"] == "r1"  # the parent's fields
        assert r["attrs"]["odd"] == f"[{r['attrs']['i']}]"
        assert r["resource"]["service.name"] == service
        by_child[n].add(r["attrs"]["i"])
    assert {n: len(s) for n, s in by_child.items()} == {n: RECORDS for n in range(CHILDREN)}

    def spans():
        ss = [s for s in collector.spans(service) if s["name"] in ("child work", "process child.job")]
        return ss if len(ss) >= 2 * CHILDREN else None

    ss = wait_for(spans, timeout=30)
    assert ss and len(ss) == 2 * CHILDREN, collector.spans(service)
    for n, (tp, task_tp, _) in children.items():
        work = [s for s in ss if s["spanId"] == tp[2]]
        assert len(work) == 1 and work[0]["name"] == "child work" and work[0]["traceId"] == tp[1]
        # attributes and an event of a child span, through C alone
        attrs = work[0]["attrs"]
        assert {k: attrs.get(k) for k in ("child", "phase", "ratio", "ok")} == \
            {"child": n, "phase": "done", "ratio": 0.5, "ok": True}, work[0]
        events = work[0].get("events", [])
        assert [(e["name"], _attrs(e.get("attributes"))) for e in events] == \
            [("checkpoint", {"records": RECORDS, "note": "done"})], work[0]
        assert (work[0].get("parentSpanId") == parent_span) == (n < 2)
        task = [s for s in ss if s["spanId"] == task_tp[2]]
        assert len(task) == 1 and task[0]["name"] == "process child.job"
        assert task[0]["kind"] in (5, "SPAN_KIND_CONSUMER")
    warned = [r for r in collector.logs(service) if r["body"].get("stringValue") == "in task"]
    assert len(warned) == CHILDREN
    for r in warned:
        assert r["spanId"] == children[r["attrs"]["child"]][1][2]


def test_shutdown_right_after_the_children_exit_ships_them_once(collector: Collector, tmp_path) -> None:
    # The parent shuts down as soon as its children are gone: it ships their
    # segments itself (nothing left for a next process) and exactly once (an
    # export in flight is not cancelled and redelivered later).
    service = service_name("spoolfork-quick")
    spool = tmp_path / "spool"
    run_worker(f"""
        import os, ffitel
        ffitel.init_telemetry()
        pids = []
        for c in range({CHILDREN}):
            pid = os.fork()
            if pid == 0:
                with ffitel.span(f"quick child {{c}}"):
                    for i in range({RECORDS}):
                        ffitel.info("quick child record", child=c, i=i)
                os._exit(0)
            pids.append(pid)
        for p in pids:
            os.waitpid(p, 0)
        assert ffitel.shutdown(timeout=30)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service,
              "FFITEL_SPOOL_DIR": str(spool), "FFITEL_LOG_OUTPUT": "none"}, timeout=120)
    assert [p.name for p in spool.iterdir()] == [], "segments left for a next process"

    def settled():
        recs = [r for r in collector.logs(service) if r["body"].get("stringValue") == "quick child record"]
        return recs if len(recs) >= CHILDREN * RECORDS else None

    recs = wait_for(settled, timeout=20) or []
    keys = [(r["attrs"]["child"], r["attrs"]["i"]) for r in recs]
    assert len(keys) == CHILDREN * RECORDS and len(set(keys)) == len(keys), \
        f"{len(keys)} records, {len(set(keys))} distinct: want {CHILDREN * RECORDS} once each"


def test_opentelemetry_api_spans_in_a_forked_child_go_through_the_spool(collector: Collector, tmp_path) -> None:
    """An OpenTelemetry API span in a child forked with the spool on is the
    spool's child span (ffitel_span_start_ex there), as ffitel.span is: it
    arrives, a child of the parent's current span, with its attributes, the
    records inside carry its ids, and a failure ends it with status ERROR.
    Before, it was a no-op (not recording, invalid ids)."""
    service = service_name("spoolapi")
    proc = run_worker("""
        import os, time, ffitel
        ffitel.init_telemetry()
        from opentelemetry import trace
        tracer = trace.get_tracer("pytest.forked")
        with ffitel.span("parent dispatch") as ps:
            print("PARENT", ps.traceparent(), flush=True)
            pid = os.fork()
            if pid == 0:
                with tracer.start_as_current_span("api in child", attributes={"n": 7}) as s:
                    ctx = s.get_span_context()
                    print("CHILD", s.is_recording(), f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", flush=True)
                    ffitel.info("inside api child")
                try:
                    with tracer.start_as_current_span("api failing"):
                        raise ValueError("boom")
                except ValueError:
                    pass
                os._exit(0)
        print("STATUS", os.waitpid(pid, 0)[1], flush=True)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            sp = ffitel.stats()["pipeline"]["spool"]
            if sp["spans_recovered"] >= 2 and sp["recovered"] >= 1:
                break
            time.sleep(0.2)
        ffitel.shutdown()
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service,
              "FFITEL_SPOOL_DIR": str(tmp_path / "spool"), "FFITEL_LOG_OUTPUT": "none"},
        timeout=120)
    out = proc.stdout
    assert "STATUS 0" in out, out + proc.stderr[-3000:]
    parent = re.search(r"^PARENT (\S+)$", out, re.M).group(1).split("-")
    recording, trace_id, span_id = re.search(r"^CHILD (\S+) (\S+) (\S+)$", out, re.M).groups()
    assert recording == "True" and trace_id == parent[1], out

    def spans():
        ss = {s["name"]: s for s in collector.spans(service)}
        return ss if {"api in child", "api failing"} <= ss.keys() else None

    ss = wait_for(spans, timeout=30)
    assert ss, collector.spans(service)
    child = ss["api in child"]
    assert child["spanId"] == span_id and child["traceId"] == trace_id
    assert child["parentSpanId"] == parent[2] and child["attrs"]["n"] == 7
    assert ss["api failing"].get("status", {}).get("code") == 2, ss["api failing"]
    recs = wait_for(lambda: [r for r in collector.logs(service) if r["body"].get("stringValue") == "inside api child"])
    assert recs and recs[0]["spanId"] == span_id and recs[0]["traceId"] == trace_id

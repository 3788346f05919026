"""fork(): after loading (fallback, no hang) and before loading (children export)."""

from __future__ import annotations

from conftest import Collector, run_worker, service_name, wait_for


def test_fork_after_loading_falls_back_to_stdlib_logging_without_hanging() -> None:
    proc = run_worker("""
        import os, sys, logging, ffitel
        ffitel.init_console()
        ffitel.info("parent before fork")
        pid = os.fork()
        if pid == 0:
            ffitel.info("child record one", n=1)
            ffitel.warning("child record two")
            logging.getLogger("lib").addHandler(ffitel.LoggingHandler())
            logging.getLogger("lib").error("child via logging")
            with ffitel.span("noop") as s:
                print("child span recording:", s.is_recording, "inject:", ffitel.inject())
            ffitel.counter_add("child.count", 1)
            try:
                print("child stats:", ffitel.stats())
            except ffitel.ForkedError as e:
                print("child stats: ForkedError", e.code)
            ffitel.init_telemetry()
            print("child phase:", ffitel.phase(), "shutdown:", ffitel.shutdown())
            sys.stdout.flush()
            os._exit(0)
        _, status = os.waitpid(pid, 0)
        ffitel.info("parent after fork", child_status=status)
        print("parent phase:", ffitel.phase())
    """, timeout=30)
    out, err = proc.stdout, proc.stderr
    assert "child span recording: False inject: {}" in out
    assert "child stats: ForkedError -3" in out  # documented in python/README.md
    assert "child phase: none shutdown: True" in out
    assert "parent phase: console" in out
    assert err.count("does not survive fork()") == 1  # warned once
    assert "INFO child record one n=1" in err
    assert "WARNING child record two" in err
    assert "ERROR child via logging" in err
    assert 'msg="parent after fork" child_status=0' in err  # the parent is unaffected


def test_pre_fork_master_children_each_export(collector: Collector) -> None:
    service = service_name("prefork")
    proc = run_worker("""
        import os, ffitel
        assert 'libffitel' not in open('/proc/self/maps').read()
        children = []
        for n in range(3):
            pid = os.fork()
            if pid == 0:
                ffitel.init_console()
                ffitel.info("worker booting", worker=n)
                ffitel.init_telemetry()
                with ffitel.span("serve", kind="server", attributes={"worker": n}):
                    ffitel.info("worker serving", worker=n, pid=os.getpid())
                ffitel.shutdown()
                os._exit(0)
            children.append(pid)
        statuses = [os.waitpid(pid, 0)[1] for pid in children]
        print(statuses)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service}, timeout=60)
    assert proc.stdout.strip() == "[0, 0, 0]"

    def serving():
        recs = [r for r in collector.logs(service) if r["body"].get("stringValue") == "worker serving"]
        return recs if len(recs) == 3 else None

    recs = wait_for(serving)
    assert recs, collector.logs(service)
    assert sorted(r["attrs"]["worker"] for r in recs) == [0, 1, 2]
    assert len({r["attrs"]["pid"] for r in recs}) == 3
    assert all(r["traceId"] for r in recs)
    booting = [r for r in collector.logs(service) if r["body"].get("stringValue") == "worker booting"]
    assert len(booting) == 3  # phase-1 records replayed by every child
    assert wait_for(lambda: len(collector.spans(service)) == 3)


def test_multiprocessing_fork_start_method_children_export(collector: Collector) -> None:
    service = service_name("mp")
    proc = run_worker("""
        import multiprocessing as mp, ffitel

        def work(n):
            ffitel.init_telemetry()
            with ffitel.span("mp job", attributes={"n": n}):
                ffitel.info("mp child", n=n)
            # no explicit shutdown: multiprocessing's exit hook flushes

        if __name__ == "__main__":
            ctx = mp.get_context("fork")
            procs = [ctx.Process(target=work, args=(n,)) for n in range(3)]
            for p in procs: p.start()
            for p in procs: p.join(30)
            print([p.exitcode for p in procs])
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service}, timeout=60)
    assert proc.stdout.strip() == "[0, 0, 0]"

    def records():
        recs = [r for r in collector.logs(service) if r["body"].get("stringValue") == "mp child"]
        return recs if len(recs) == 3 else None

    recs = wait_for(records)
    assert recs, collector.logs(service)
    assert sorted(r["attrs"]["n"] for r in recs) == [0, 1, 2]


def test_multiprocessing_after_loading_falls_back_without_hanging() -> None:
    proc = run_worker("""
        import multiprocessing as mp, ffitel

        def work(n):
            ffitel.info("mp child after load", n=n)
            with ffitel.span("noop"):
                pass

        if __name__ == "__main__":
            ffitel.init_telemetry()
            ctx = mp.get_context("fork")
            with ctx.Pool(2) as pool:
                pool.map(work, range(4))
            print("done", ffitel.phase())
    """, timeout=30)
    assert proc.stdout.strip() == "done telemetry"
    assert proc.stderr.count("INFO mp child after load") == 4

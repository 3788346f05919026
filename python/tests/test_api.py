"""API behaviour, in this process (console only: no TELEMETRY_ENABLED here).

The library's console output goes straight to file descriptor 2, so these
tests read it with capfd. Lifecycle and loading tests run in subprocesses,
since loading and phases are once per process.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import threading
from typing import Dict, List, Optional

import pytest

from conftest import logged, run_worker

import ffitel

pytestmark = pytest.mark.usefixtures("console")


def test_import_loads_nothing_until_first_use() -> None:
    proc = run_worker("""
        import ffitel
        def loaded():
            return 'libffitel' in open('/proc/self/maps').read()
        print(loaded(), ffitel.phase(), loaded())
        ffitel.info('first use')
        print(loaded(), ffitel.phase())
    """)
    assert proc.stdout.split() == ["False", "none", "False", "True", "console"]


def test_import_needs_only_the_standard_library_and_all_lists_the_exports() -> None:
    proc = run_worker("""
        import sys
        before = set(sys.modules)
        import ffitel
        outside = sorted(m.split('.')[0] for m in set(sys.modules) - before
                         if m.split('.')[0] not in sys.stdlib_module_names
                         and m.split('.')[0] != 'ffitel')
        public = sorted(n for n in vars(ffitel) if not n.startswith('_')
                        and not type(getattr(ffitel, n)).__name__ == 'module')
        print(outside)
        print(public == sorted(ffitel.__all__), len(ffitel.__all__) == len(set(ffitel.__all__)))
        print(sorted(set(public) ^ set(ffitel.__all__)))
    """)
    assert proc.stdout.split("\n")[:3] == ["[]", "True True", "[]"], proc.stdout


def test_lifecycle_phases_and_logging_after_shutdown() -> None:
    proc = run_worker("""
        import ffitel
        print(ffitel.phase())
        ffitel.init_console(); print(ffitel.phase())
        ffitel.init_console(); print(ffitel.phase())
        ffitel.init_telemetry(); print(ffitel.phase())
        print(ffitel.shutdown(timeout=2.0)); print(ffitel.phase())
        print(ffitel.shutdown())
        ffitel.info('after shutdown', n=1)
        with ffitel.span('after') as s:
            s.set_attribute('k', 1)
        print('span-ok')
        try:
            ffitel.init_telemetry()
        except ffitel.Error as exc:
            print('Error', exc.code)
    """)
    assert proc.stdout.split() == [
        "none", "console", "console", "telemetry", "True", "shutdown", "True", "span-ok",
        "Error", "-2"]
    assert "msg=\"after shutdown\" n=1" in proc.stderr


def test_library_lookup_honours_FFITEL_LIBRARY() -> None:
    proc = run_worker("""
        import ffitel
        try:
            ffitel.init_console()
        except ffitel.Error as exc:
            print('Error:', exc)
        ffitel.info('never raises')
    """, env={"FFITEL_LIBRARY": "/nonexistent/libffitel.so"})
    assert "Error: FFITEL_LIBRARY='/nonexistent/libffitel.so' does not exist" in proc.stdout
    assert "never raises" in proc.stderr


def test_info_logs_message_and_attributes(capfd: pytest.CaptureFixture[str]) -> None:
    ffitel.info("charged card", order_id=42, user="bob", ok=True, ratio=0.5)
    out = logged(capfd)
    assert 'msg="charged card" order_id=42 user=bob ok=true ratio=0.5' in out


@pytest.mark.parametrize("fn,level", [
    (ffitel.debug, "DEBUG"), (ffitel.info, "INFO"), (ffitel.warning, "WARN"),
    (ffitel.error, "ERROR"),
])
def test_level_functions(capfd: pytest.CaptureFixture[str], fn, level: str) -> None:
    fn(f"at {level}")
    assert re.search(rf"level={level} msg=\"at {level}\"", logged(capfd))


def test_critical_is_fatal_severity(capfd: pytest.CaptureFixture[str]) -> None:
    ffitel.critical("at critical")
    assert 'level=FATAL msg="at critical"' in logged(capfd)


@pytest.mark.parametrize("levelno,severity", [
    (logging.NOTSET, 1), (5, 3), (logging.DEBUG, 5), (logging.INFO, 9), (25, 11),
    (logging.WARNING, 13), (logging.ERROR, 17), (logging.CRITICAL, 21), (100, 24),
])
def test_logging_levels_map_to_severity_numbers(levelno: int, severity: int) -> None:
    assert ffitel.severity_of(levelno) == severity


def test_odd_values_never_raise(capfd: pytest.CaptureFixture[str]) -> None:
    class Odd:
        def __str__(self) -> str:
            return "odd!"

    cycle: List[object] = []
    cycle.append(cycle)
    ffitel.info(Odd(), obj=Odd(), nan=math.nan, inf=-math.inf, tags=["a", 1.5],
                nested={"k": "v"}, none=None, cycle=cycle, surrogate="\udc80")
    out = logged(capfd)
    assert "msg=odd! obj=odd! nan=NaN inf=-Infinity" in out
    assert "nested.k=v" in out


def test_msg_and_attribute_named_msg(capfd: pytest.CaptureFixture[str]) -> None:
    ffitel.info("hello", msg="attr")  # msg is positional-only
    assert "msg=hello" in logged(capfd)


def test_library_errors_raise_Error_with_its_message() -> None:
    with pytest.raises(ffitel.Error, match="finite values >= 0") as exc:
        ffitel.counter_add("jobs.done", -1)
    assert exc.value.code == -1
    with pytest.raises(ffitel.Error):
        ffitel.histogram_record("9 not a name", 1.0)
    with pytest.raises(ValueError, match="unknown span kind"):
        ffitel.span("x", kind="sideways")


def test_metrics_accept_attributes() -> None:
    ffitel.counter_add("pytest.jobs", 1, queue="mail")
    ffitel.counter_add("pytest.jobs", 2.5, queue="mail")
    ffitel.histogram_record("pytest.batch", 12, unit="{item}", queue="mail")


def test_stats_is_the_pipeline_document() -> None:
    doc = ffitel.stats()
    logs = doc["pipeline"]["logs"]
    assert logs["emitted"] == logs["exported"] + logs["dropped"] + logs["failed"] + logs["pending"]
    assert doc["pipeline"]["export_enabled"] is False


# --- LoggingHandler -------------------------------------------------------------


@pytest.fixture
def stdlib_logger() -> logging.Logger:
    logger = logging.getLogger("thirdparty.client")
    logger.handlers[:] = [ffitel.LoggingHandler()]
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    return logger


def test_logging_handler_keeps_extra_and_logger_name(
        capfd: pytest.CaptureFixture[str], stdlib_logger: logging.Logger) -> None:
    stdlib_logger.warning("retrying %s", "GET /x", extra={"attempt": 2, "host": "api"})
    out = logged(capfd)
    assert re.search(r'level=WARN msg="retrying GET /x" .*logger.name=thirdparty.client', out)
    assert "attempt=2 host=api" in out


def test_logging_handler_records_exceptions(
        capfd: pytest.CaptureFixture[str], stdlib_logger: logging.Logger) -> None:
    try:
        {}["missing"]
    except KeyError:
        stdlib_logger.exception("lookup failed")
    out = logged(capfd)
    assert "level=ERROR msg=\"lookup failed\"" in out
    assert "exception.type=KeyError exception.message='missing'" in out
    assert "exception.stacktrace=\"Traceback (most recent call last):" in out


def test_logging_handler_respects_logger_levels(
        capfd: pytest.CaptureFixture[str], stdlib_logger: logging.Logger) -> None:
    stdlib_logger.setLevel(logging.WARNING)
    stdlib_logger.info("filtered out")
    stdlib_logger.error("kept")
    out = logged(capfd)
    assert "filtered out" not in out and "msg=kept" in out


def test_logging_handler_never_raises() -> None:
    proc = run_worker("""
        import logging, ffitel
        logging.basicConfig(handlers=[ffitel.LoggingHandler()], level=logging.INFO)
        logging.getLogger("x").info("bad %d format", "x")
        logging.getLogger("x").info("still here")
        print("survived")
    """)
    assert proc.stdout.strip() == "survived"
    assert "--- Logging error ---" in proc.stderr  # reported as logging does, not raised
    assert "msg=\"still here\"" in proc.stderr


# --- spans, fields, context ---------------------------------------------------


def test_span_is_current_inside_and_logs_carry_its_ids(capfd: pytest.CaptureFixture[str]) -> None:
    assert ffitel.current_span() is None
    assert ffitel.inject() == {}
    with ffitel.span("charge", kind="client", attributes={"amount": 5}) as s:
        assert ffitel.current_span() is s
        s.set_attribute("ok", True).set_attributes({"n": 1}).add_event("retry", attempt=2)
        headers = ffitel.inject()
        ffitel.info("inside")
    assert ffitel.current_span() is None
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", headers["traceparent"])
    assert headers["traceparent"] == f"00-{s.trace_id}-{s.span_id}-01"
    assert f"msg=inside trace_id={s.trace_id} span_id={s.span_id}" in logged(capfd)


def test_nested_spans_share_the_trace() -> None:
    with ffitel.span("parent") as parent:
        with ffitel.span("child") as child:
            assert child.trace_id == parent.trace_id
            assert child.span_id != parent.span_id
        assert ffitel.current_span() is parent


def test_span_as_decorator_and_on_exceptions() -> None:
    seen: Dict[str, Optional[ffitel.Span]] = {}

    @ffitel.span("work", kind="internal")
    def work(x: int) -> int:
        seen["span"] = ffitel.current_span()
        if x < 0:
            raise ValueError("negative")
        return x * 2

    assert work(2) == 4
    assert seen["span"] is not None and seen["span"].name == "work"
    assert not seen["span"].is_recording  # ended
    with pytest.raises(ValueError, match="negative"):
        work(-1)
    assert ffitel.current_span() is None
    with pytest.raises(RuntimeError):
        with ffitel.span("failing"):
            raise RuntimeError("boom")
    assert ffitel.current_span() is None


def test_span_decorator_on_coroutines() -> None:
    @ffitel.span("async work")
    async def work() -> str:
        await asyncio.sleep(0)
        s = ffitel.current_span()
        assert s is not None
        return s.name

    assert asyncio.run(work()) == "async work"


def test_continue_a_remote_trace_from_traceparent() -> None:
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    with ffitel.span("consume", kind="consumer", traceparent=tp) as s:
        assert s.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"


def test_threads_have_their_own_current_span() -> None:
    results: Dict[int, tuple] = {}
    barrier = threading.Barrier(4)

    def run(i: int) -> None:
        assert ffitel.current_span() is None  # threads do not inherit the context
        with ffitel.span(f"thread-{i}") as s:
            barrier.wait()
            results[i] = (ffitel.current_span() is s, s.trace_id)

    with ffitel.span("main"):
        threads = [threading.Thread(target=run, args=(i,)) for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert all(same for same, _ in results.values())
    assert len({tid for _, tid in results.values()}) == 4


def test_asyncio_tasks_have_their_own_span_and_inherit_the_parent() -> None:
    async def step(i: int) -> tuple:
        with ffitel.span(f"step-{i}") as s:
            await asyncio.sleep(0.01 * (3 - i))  # interleave the tasks
            return ffitel.current_span() is s, s.trace_id

    async def main() -> tuple:
        with ffitel.span("request") as root:
            got = await asyncio.gather(*(asyncio.create_task(step(i)) for i in range(3)))
            return root.trace_id, got, ffitel.current_span() is root

    root_trace, got, root_still_current = asyncio.run(main())
    assert root_still_current
    assert all(same and tid == root_trace for same, tid in got)


def test_fields_reach_logs_and_nest(capfd: pytest.CaptureFixture[str]) -> None:
    with ffitel.fields(correlation_id="c-1", namespace="payments"):
        ffitel.info("outer")
        with ffitel.fields(namespace="billing", step=2) as current:
            assert current == {"correlation_id": "c-1", "namespace": "billing", "step": 2}
            ffitel.info("inner", extra_attr=1)
        ffitel.info("back")
    ffitel.info("outside")
    out = logged(capfd)
    assert "msg=outer correlation_id=c-1 namespace=payments" in out
    assert "msg=inner correlation_id=c-1 namespace=billing step=2 extra_attr=1" in out
    assert "msg=back correlation_id=c-1 namespace=payments" in out
    assert re.search(r"msg=outside\n", out)
    assert ffitel.current_fields() == {}


def test_fields_are_per_thread_and_task(capfd: pytest.CaptureFixture[str]) -> None:
    def run(i: int) -> None:
        with ffitel.fields(worker=i):
            ffitel.info("thread")

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    async def task(i: int) -> None:
        with ffitel.fields(task=i):
            await asyncio.sleep(0.01 * (3 - i))
            ffitel.info("task")

    async def main() -> None:
        await asyncio.gather(*(task(i) for i in range(3)))

    asyncio.run(main())
    out = logged(capfd)
    for i in range(3):
        assert f"msg=thread worker={i}\n" in out
        assert f"msg=task task={i}\n" in out

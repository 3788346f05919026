"""The native log path: the library's built-in log function (ffitel_py_function)
reads the message and keyword arguments with CPython's C API, with no JSON and
no ctypes conversion. These tests pin that it is used, that it writes exactly
what the JSON path writes, and that every value it does not take still gets
logged through the JSON path."""

from __future__ import annotations

import math
import re
from typing import Iterator

import pytest

from conftest import logged, run_worker

import ffitel
from ffitel import _native, _state

pytestmark = pytest.mark.usefixtures("console")


@pytest.fixture
def json_path() -> Iterator[None]:
    saved = _state.native_fn
    _state.native_fn = None
    try:
        yield
    finally:
        _state.native_fn = saved


def strip_time(out: str) -> str:
    """The "same line" records only (an earlier test's line may arrive late), without times."""
    return "".join(re.sub(r"time=\S+ ", "", line) for line in out.splitlines(keepends=True)
                   if 'msg="same line"' in line)


def test_the_native_function_is_made_and_used() -> None:
    assert _state.native_fn is not None, "CPython should get the library's built-in log function"
    assert type(_state.native_fn).__name__ == "builtin_function_or_method"
    assert _state.native_fn(_state.INFO, "direct", {"k": 1}, 0) == 0
    ffitel.flush()


SIMPLE = dict(s="text with spaces", u="ünïcödé ✓", i=-42, big=2**63 - 1, f=1.5, t=True, no=False,
              none=None, empty="")


def test_native_and_json_paths_write_the_same_line(capfd: pytest.CaptureFixture[str],
                                                   request: pytest.FixtureRequest) -> None:
    ffitel.info("same line", **SIMPLE)
    native = strip_time(logged(capfd))
    request.getfixturevalue("json_path")
    ffitel.info("same line", **SIMPLE)
    via_json = strip_time(logged(capfd))
    assert native == via_json
    assert ('msg="same line" s="text with spaces" u="ünïcödé ✓" i=-42 big=9223372036854775807 f=1.5 '
            't=true no=false empty=""') in native, native


@pytest.mark.parametrize("value,expect", [
    ([1, "a"], "v=\"[1 a]\""),          # a list: JSON path
    (2**64, "v=18446744073709551616"),  # beyond 64 bits: JSON path, its digits as a string
    ("\udc80", "v="),                   # a lone surrogate: JSON path
    ({"k": "x"}, "v.k=x"),              # a dict: JSON path, flattened
    (True, "v=true"),
    (math.inf, "v=Infinity"),           # not finite: JSON path, as a string
    (-math.inf, "v=-Infinity"),
    (math.nan, "v=NaN"),
])
def test_values_native_declines_still_log(capfd: pytest.CaptureFixture[str], value: object,
                                           expect: str) -> None:
    ffitel.info("declined", v=value)
    out = logged(capfd)
    assert "msg=declined" in out and expect in out, out


def test_declined_values_return_use_json_and_log_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    fn = _state.native_fn
    assert fn is not None
    assert fn(_state.INFO, "not logged", {"v": [1]}, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", {"v": 2**64}, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", {"v": math.nan}, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", {"v": -math.inf}, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", {"ok": 1, "v": None}, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged \udc80", None, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, b"bytes msg", None, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", ["not", "a", "dict"], 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", {1: "int key"}, 0) == _native.PY_USE_JSON
    assert fn(_state.INFO, "not logged", {f"k{i}": i for i in range(129)}, 0) == _native.PY_USE_JSON
    assert "not logged" not in logged(capfd)


def test_odd_arguments_are_result_codes_and_still_log(capfd: pytest.CaptureFixture[str]) -> None:
    fn = _state.native_fn
    assert fn is not None
    assert fn() == _native.E_INVALID  # wrong argument count: nothing to log
    assert fn(99, "bad severity", None, 0) == _native.E_INVALID
    assert fn("x", "severity not an int", None, 0) == _native.E_INVALID
    assert fn(_state.INFO, "unknown span", None, 2**70) == _native.E_HANDLE
    assert fn(_state.INFO, "no such span", None, 123456789) == _native.E_HANDLE
    out = logged(capfd)
    assert "msg=\"bad severity\" ffitel.invalid_severity=99" in out
    assert "msg=\"severity not an int\"" in out
    assert "msg=\"unknown span\"" in out and "msg=\"no such span\"" in out


def test_fields_and_span_reach_the_native_path(capfd: pytest.CaptureFixture[str]) -> None:
    with ffitel.span("work") as s, ffitel.fields(job="j-1", step=1):
        ffitel.info("inside", step=2)
        ids = f"trace_id={s.trace_id} span_id={s.span_id}"
    out = logged(capfd)
    assert f"msg=inside {ids} job=j-1 step=2" in out, out


def test_many_attributes_are_not_lost(capfd: pytest.CaptureFixture[str]) -> None:
    attrs = {f"k{i}": i for i in range(128)}
    ffitel.info("wide", **attrs)
    out = logged(capfd)
    assert "k0=0 " in out and "k127=127" in out


def test_a_record_after_the_ring_consumer_parked_is_written_without_another_call() -> None:
    """The ring's consumer parks after about a millisecond without records;
    the next typed record wakes it from C (an eventfd), not by entering Go.
    Nothing else drains the ring here (no flush, stats or shutdown: the
    worker leaves with os._exit), so a record only the ring held would be
    lost."""
    proc = run_worker("""
        import os, time, ffitel
        ffitel.init_telemetry()
        ffitel.info("before the park", n=0)
        time.sleep(0.5)
        for i in range(3):
            ffitel.info("after the park", n=i)
            time.sleep(0.3)
        os._exit(0)
    """)
    assert proc.stderr.count("after the park") == 3, proc.stderr[-2000:]

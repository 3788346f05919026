"""Bad input (issue #12): logging calls never raise, odd values become a
record the library can carry without spoiling the rest, and programmer errors
(a span without a name, an event too big or badly named) raise a clear error.

The console tests run in this process (phase 2, export off); what the
OpenTelemetry Collector receives is checked with a real worker process.
"""

from __future__ import annotations

import math
from typing import Any, Dict

import pytest
from conftest import Collector, logged, run_worker, service_name, wait_for

import ffitel

pytestmark = pytest.mark.usefixtures("console")

UNPRINTABLE = "<unprintable Unprintable: RuntimeError>"


class Unprintable:
    """str() and repr() raise an error that is neither TypeError nor ValueError."""

    def __str__(self) -> str:
        raise RuntimeError("no str for you")

    def __repr__(self) -> str:
        raise RuntimeError("no repr either")


class UnprintableError(Exception):
    def __str__(self) -> str:
        raise RuntimeError("no str for you")


def input_errors() -> int:
    return int(ffitel.stats()["pipeline"]["input_errors"])


def test_log_calls_with_unprintable_message_attribute_or_field_never_raise(
        capfd: pytest.CaptureFixture[str]) -> None:
    before = input_errors()
    ffitel.info(Unprintable())
    ffitel.error("unprintable attribute", value=Unprintable())
    ffitel.warning("unprintable in a list", values=[Unprintable(), "kept"])
    ffitel.log("info", "unprintable through log", value=Unprintable())
    ffitel.debug("unprintable key", mapping={Unprintable(): 1, "kept": 2})
    with ffitel.fields(field=Unprintable()):
        ffitel.info("inside unprintable fields")
    out = logged(capfd)
    assert f"msg=\"{UNPRINTABLE}\"" in out
    assert f"msg=\"unprintable attribute\" value=\"{UNPRINTABLE}\"" in out
    assert "msg=\"unprintable in a list\" values=" in out and "kept" in out
    assert f"msg=\"unprintable through log\" value=\"{UNPRINTABLE}\"" in out
    assert "mapping.kept=2" in out
    assert f"msg=\"inside unprintable fields\" field=\"{UNPRINTABLE}\"" in out
    # each placeholder is an input error (the field is encoded once, on entry)
    assert input_errors() - before >= 6


def test_span_send_and_metrics_with_unprintable_values_never_raise(
        capfd: pytest.CaptureFixture[str]) -> None:
    before = input_errors()
    with ffitel.span("unprintable span", attributes={"a": Unprintable()}) as s:
        s.set_attribute("b", Unprintable())
        s.set_attributes({"c": [Unprintable()]})
        s.add_event("event", d=Unprintable())
        ffitel.info("inside the span")
    with ffitel.send("UnprintableJob", e=Unprintable()):
        pass
    ffitel.counter_add("pytest.unprintable", 1, f=Unprintable())
    ffitel.histogram_record("pytest.unprintable.size", 2.0, unit="{item}", g=Unprintable())
    assert "msg=\"inside the span\"" in logged(capfd)
    assert input_errors() - before >= 7


def test_an_exception_whose_str_raises_leaves_a_span_unchanged() -> None:
    with pytest.raises(UnprintableError):
        with ffitel.span("failing"):
            raise UnprintableError()
    with pytest.raises(UnprintableError):
        with ffitel.task("FailingJob", task_id="t-1"):
            raise UnprintableError()


@pytest.mark.parametrize("level, shown", [
    ("info", "INFO"), ("INFO", "INFO"), ("warning", "WARN"), ("warn", "WARN"),
    ("error", "ERROR"), ("critical", "FATAL"), ("fatal", "FATAL"), ("debug", "DEBUG"),
    (13, "WARN"), (17.0, "ERROR"), ("no such level", "INFO"), (None, "INFO"),
])
def test_log_takes_level_names_and_numbers(capfd: pytest.CaptureFixture[str], level: Any,
                                           shown: str) -> None:
    ffitel.log(level, "leveled", level_given=repr(level))
    out = logged(capfd)
    line = next(ln for ln in out.splitlines() if "msg=leveled" in ln)
    assert f"level={shown} " in line


def test_unknown_level_counts_an_input_error() -> None:
    before = input_errors()
    ffitel.log("loud", "unknown level")
    assert input_errors() == before + 1


def test_bad_shapes_keep_the_other_attributes(capfd: pytest.CaptureFixture[str]) -> None:
    ffitel.info("shapes", ok=1, nested=[[1, 2], [3]], in_list=[{"x": 1}], tags=["a", "b"])
    line = next(ln for ln in logged(capfd).splitlines() if "msg=shapes" in ln)
    assert "ffitel.invalid_attributes" not in line
    assert "ok=1" in line and 'tags="[a b]"' in line
    assert "nested=[[1,2],[3]]" in line
    assert 'in_list="[{\\"x\\":1}]"' in line


def test_big_integers_keep_their_digits(capfd: pytest.CaptureFixture[str]) -> None:
    ffitel.info("big ints", big=2**64 - 1, neg=-(2**70), edge=2**63 - 1, ids=[2**64, 1])
    line = next(ln for ln in logged(capfd).splitlines() if "msg=\"big ints\"" in ln)
    assert "big=18446744073709551615" in line and "e+" not in line
    assert "neg=-1180591620717411303424" in line
    assert "edge=9223372036854775807" in line
    assert 'ids="[18446744073709551616 1]"' in line


def test_none_values_are_left_out_and_counted() -> None:
    before = input_errors()
    with ffitel.span("with none", attributes={"ok": 1, "gone": None}) as s:
        s.set_attributes({"also_gone": None, "kept": "yes"})
    assert input_errors() == before + 2


def test_span_name_must_be_a_str() -> None:
    with pytest.raises(TypeError, match="ffitel.span: name must be a str, got NoneType"):
        ffitel.span(None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ffitel.span: name must be a str, got int"):
        with ffitel.span(5):  # type: ignore[arg-type]
            pass
    with pytest.raises(TypeError, match="ffitel.send: task_type must be a str"):
        ffitel.send(None)  # type: ignore[arg-type]


def test_publish_event_payload_over_one_MiB_says_too_large() -> None:
    with pytest.raises(ffitel.Error, match=r"payload too large \(\d+ bytes > 1048576\)") as exc:
        ffitel.publish_event("pytest.big", {"blob": "x" * (1 << 20)}, namespace="n",
                             correlation_id="c")
    assert exc.value.code == -1
    assert "not valid JSON" not in str(exc.value)


@pytest.mark.parametrize("name, why", [
    ("pytest.nul\x00name", "NUL"),
    ("pytest.lone\udcffsurrogate", "lone surrogate"),
])
def test_publish_event_with_an_invalid_name_is_refused_clearly(name: str, why: str) -> None:
    with ffitel.subscribe("*") as sub:
        with pytest.raises(ffitel.Error, match="invalid event name") as exc:
            ffitel.publish_event(name, {"a": 1}, namespace="n", correlation_id="c")
        assert why in str(exc.value) and "U+FFFD" not in str(exc.value)
        assert exc.value.code == -1
        assert sub.poll(timeout=0) == []  # nothing published


def test_event_payload_with_unprintable_and_non_finite_values_is_published() -> None:
    with ffitel.subscribe("pytest.odd.payload") as sub:
        ffitel.publish_event("pytest.odd.payload",
                             {"u": Unprintable(), "nan": math.nan, "deep": [[1, {"k": 2}]]},
                             namespace="n", correlation_id="c")
        events = sub.poll(timeout=5)
    assert events, "the event was not delivered"
    assert events[0]["payload"] == {"u": UNPRINTABLE, "nan": "NaN", "deep": [[1, {"k": 2}]]}


def test_exported_records_keep_valid_attributes_and_carry_odd_ones_as_strings(
        collector: Collector) -> None:
    service = service_name("badinput")
    run_worker("""
        import math, ffitel
        ffitel.init_telemetry()
        odd = dict(ok=1, nested=[[1, 2], [3]], in_list=[{"x": 1}], tags=["a", "b"],
                   nan=math.nan, inf=math.inf, ninf=-math.inf, big=2**64 - 1,
                   gone=None)
        ffitel.info("odd shapes", **odd)
        with ffitel.span("odd span", attributes=odd) as s:
            s.set_attribute("later_big", -(2**70))
        assert ffitel.shutdown(timeout=10.0)
    """, env={**collector.env(), "OTEL_SERVICE_NAME": service})

    expected: Dict[str, Any] = {
        "ok": 1, "nested": "[[1,2],[3]]", "in_list": '[{"x":1}]',
        "nan": "NaN", "inf": "Infinity", "ninf": "-Infinity", "big": "18446744073709551615",
    }

    def check(attrs: Dict[str, Any]) -> None:
        assert "ffitel.invalid_attributes" not in attrs, attrs
        assert "gone" not in attrs
        for key, value in expected.items():
            assert attrs.get(key) == value, (key, attrs)
        assert attrs["tags"] == {"arrayValue": {"values": [{"stringValue": "a"},
                                                           {"stringValue": "b"}]}}

    logs = wait_for(lambda: [r for r in collector.logs(service)
                             if r["body"].get("stringValue") == "odd shapes"])
    assert logs, "the record did not arrive"
    check(logs[0]["attrs"])
    spans = wait_for(lambda: [s for s in collector.spans(service) if s["name"] == "odd span"])
    assert spans, "the span did not arrive"
    check(spans[0]["attrs"])
    assert spans[0]["attrs"]["later_big"] == "-1180591620717411303424"


def library_input_errors() -> int:
    """pipeline.input_errors as the library itself reports it (what
    /metrics/events serves), without the binding's own additions."""
    import ctypes
    import json

    from ffitel import _state
    assert _state.lib is not None
    buf = ctypes.create_string_buffer(1 << 16)
    n = _state.lib.stats_json(buf, len(buf))
    return int(json.loads(buf.raw[:n])["pipeline"]["input_errors"])


def test_binding_side_input_errors_reach_the_library_count(capfd: pytest.CaptureFixture[str]) -> None:
    before = library_input_errors()
    ffitel.info("none logged", ok=1, gone=None)
    assert library_input_errors() == before + 1, "the None must count where /metrics/events sees it"
    line = next(x for x in logged(capfd).splitlines() if "none logged" in x)
    assert "ok=1" in line and "gone" not in line

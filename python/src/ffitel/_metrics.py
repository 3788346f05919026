"""Metrics and stats: counter_add, histogram_record and the stats document."""

from __future__ import annotations

import json
from typing import Any, Dict, cast

from . import _state
from ._attrs import encode as _encode
from ._native import E_FORKED, ForkedError, utf8


def _name(what: str, name: Any) -> bytes:
    if not isinstance(name, str):
        raise TypeError(f"ffitel.{what}: name must be a str, got {type(name).__name__}")
    return utf8(name)


def counter_add(name: str, value: float = 1, /, **attrs: Any) -> None:
    """Adds value (>= 0) to the monotonic counter name. Raises Error for an
    invalid name or value; attribute values never make it raise (see
    _attrs)."""
    lib = _state.library()
    if lib is None:
        return
    n = _name("counter_add", name)
    a = _encode(attrs) if attrs else None
    rc = lib.counter_add(n, len(n), float(value), a, len(a) if a else 0)
    if rc < 0 and not _state.forked_rc(rc):
        raise lib.error(rc, "ffitel_counter_add")


def histogram_record(name: str, value: float, /, unit: str = "", **attrs: Any) -> None:
    """Records value in the histogram name (unit as UCUM: "ms", "By", "{item}")."""
    lib = _state.library()
    if lib is None:
        return
    n = _name("histogram_record", name)
    u = utf8(unit)
    a = _encode(attrs) if attrs else None
    rc = lib.histogram_record(n, len(n), float(value), u, len(u), a, len(a) if a else 0)
    if rc < 0 and not _state.forked_rc(rc):
        raise lib.error(rc, "ffitel_histogram_record")


def stats() -> Dict[str, Any]:
    """The pipeline statistics document (the /metrics/events JSON).

    ``pipeline.input_errors`` also counts the bad input this binding caught
    before the library saw it (a placeholder for an unprintable value, a None
    attribute left out, an event payload over 1 MiB, an unknown log level)."""
    _state.check_fork()
    lib = _state.load()
    if lib is None:
        raise ForkedError("ffitel: no stats in a child forked after the library was loaded",
                          E_FORKED)
    n, data = lib.fill(lib.stats_json, (), 8192)
    _state.check(lib, n, "ffitel_stats_json")
    doc = cast(Dict[str, Any], json.loads(data.decode("utf-8", "replace")))
    pipeline = doc.get("pipeline")
    if isinstance(pipeline, dict) and isinstance(pipeline.get("input_errors"), int):
        pipeline["input_errors"] += _state.input_errors()
    return doc

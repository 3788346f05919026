"""Metrics and stats: counter_add, histogram_record and the stats document."""

from __future__ import annotations

import json
from typing import Any, Dict, cast

from . import _state
from ._attrs import encode as _encode
from ._native import E_FORKED, ForkedError, utf8


def counter_add(name: str, value: float = 1, /, **attrs: Any) -> None:
    """Adds value (>= 0) to the monotonic counter name. Raises Error if invalid."""
    lib = _state.library()
    if lib is None:
        return
    n = utf8(name)
    a = _encode(attrs) if attrs else None
    rc = lib.counter_add(n, len(n), float(value), a, len(a) if a else 0)
    if rc < 0 and not _state.forked_rc(rc):
        raise lib.error(rc, "ffitel_counter_add")


def histogram_record(name: str, value: float, /, unit: str = "", **attrs: Any) -> None:
    """Records value in the histogram name (unit as UCUM: "ms", "By", "{item}")."""
    lib = _state.library()
    if lib is None:
        return
    n = utf8(name)
    u = utf8(unit)
    a = _encode(attrs) if attrs else None
    rc = lib.histogram_record(n, len(n), float(value), u, len(u), a, len(a) if a else 0)
    if rc < 0 and not _state.forked_rc(rc):
        raise lib.error(rc, "ffitel_histogram_record")


def stats() -> Dict[str, Any]:
    """The pipeline statistics document (the /metrics/events JSON)."""
    _state.check_fork()
    lib = _state.load()
    if lib is None:
        raise ForkedError("ffitel: no stats in a child forked after the library was loaded",
                          E_FORKED)
    n, data = lib.fill(lib.stats_json, (), 8192)
    _state.check(lib, n, "ffitel_stats_json")
    return cast(Dict[str, Any], json.loads(data.decode("utf-8", "replace")))

"""Attributes as the flat JSON object the C ABI takes.

json.dumps builds a new encoder on every call, which costs more than the
library call itself; the C encoder of the json module is built once here and
reused. Values it cannot write go through str(). Non-finite floats, which
JSON cannot carry, become the strings "NaN", "Infinity" and "-Infinity".
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Mapping

_escape: Callable[[str], str]
try:  # the C implementations; the pure-Python fallbacks behave the same
    from json.encoder import c_encode_basestring as _c_escape  # type: ignore[attr-defined]
    from json.encoder import c_make_encoder as _c_make_encoder  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover
    _c_escape = _c_make_encoder = None

if _c_escape is not None and _c_make_encoder is not None:
    _escape = _c_escape
    # (markers, default, encoder, indent, key_sep, item_sep, sort_keys, skipkeys, allow_nan)
    _fast = _c_make_encoder(None, str, _c_escape, None, ":", ",", False, False, False)

    def _fast_encode(attrs: Mapping[str, Any]) -> str:
        return "".join(_fast(attrs, 0))
else:  # pragma: no cover
    _escape = json.encoder.py_encode_basestring  # type: ignore[attr-defined]
    _slow_encoder = json.JSONEncoder(default=str, ensure_ascii=False, allow_nan=False,
                                     separators=(",", ":"))
    _fast_encode = _slow_encoder.encode


def _finite(value: Any) -> Any:
    """A copy of value that JSON can carry: non-finite floats as strings, str keys."""
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_finite(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _finite(v) for k, v in value.items()}
    return value


def _careful_encode(attrs: Mapping[str, Any]) -> str:
    try:
        return json.dumps(_finite(attrs), default=str, ensure_ascii=False, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        # a reference cycle, or a __str__ that fails: one attribute at a time
        parts = []
        for key, value in attrs.items():
            try:
                v = json.dumps(_finite(value), default=str, ensure_ascii=False)
            except Exception:
                v = _escape(repr(type(value)))
            parts.append(_escape(str(key)) + ":" + v)
        return "{" + ",".join(parts) + "}"


def encode(attrs: Mapping[str, Any]) -> bytes:
    """attrs as UTF-8 JSON; never raises on odd values or keys."""
    try:
        text = _fast_encode(attrs)
    except (TypeError, ValueError, RecursionError):  # NaN, odd keys, cycles
        text = _careful_encode(attrs)
    return text.encode("utf-8", "surrogatepass")


def _careful_key(key: Any) -> str:
    try:
        return _escape(key if isinstance(key, str) else str(key))
    except Exception:
        return _escape(repr(type(key)))


def _careful_value(value: Any, depth: int = 0) -> str:
    """Any value as JSON, one part at a time, so one bad part cannot spoil the rest."""
    try:
        return json.dumps(_finite(value), default=str, ensure_ascii=False,
                          separators=(",", ":"))
    except Exception:  # a cycle, odd keys deep down, a __str__ that raises
        pass
    if depth < 32:
        if isinstance(value, Mapping):
            return "{" + ",".join(_careful_key(k) + ":" + _careful_value(v, depth + 1)
                                  for k, v in value.items()) + "}"
        if isinstance(value, (list, tuple, set, frozenset)):
            return "[" + ",".join(_careful_value(v, depth + 1) for v in value) + "]"
    return _escape(repr(type(value)))  # a reference cycle, or a __str__ that fails


def encode_value(value: Any) -> bytes:
    """Any value (an event payload) as UTF-8 JSON, with encode()'s care: values
    JSON cannot write go through str(), non-finite floats become strings, keys
    become strings; never raises."""
    try:
        text = "".join(_fast(value, 0)) if _c_make_encoder is not None else _fast_encode(value)
    except Exception:  # NaN, odd keys, cycles, a __str__ that raises
        text = _careful_value(value)
    return text.encode("utf-8", "surrogatepass")

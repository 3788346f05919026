"""Attributes as the flat JSON object the C ABI takes, and event payloads.

json.dumps builds a new encoder on every call, which costs more than the
library call itself; the C encoder of the json module is built once here and
reused for the common case. Its output is accepted only when it holds
nothing the library would misread; anything else (a value whose ``str()``
raises, a non-finite float, an integer beyond 64 bits, a None, a list inside a
list, a cycle) takes the careful path, which writes every attribute the
library can carry and keeps the others:

- a non-finite float becomes the string "NaN", "Infinity" or "-Infinity";
- an integer outside the signed 64-bit range becomes a string of its digits
  (JSON numbers that large would be read back as floats and lose them);
- a list holding a list, tuple, set or dict becomes one string, its
  ``json.dumps`` form (the C ABI takes arrays of scalars only, and one bad
  array would otherwise spoil every attribute of the record);
- a dict nested deeper than the library flattens (8 levels) becomes a string;
- a value or key whose ``str()`` raises becomes ``<unprintable Foo:
  ValueError>`` and counts as an input error;
- a None value (JSON null, which the library skips) is left out and counts as
  an input error.

Other values go through ``str()``. Nothing here raises.
"""

from __future__ import annotations

import json
import math
from typing import Any, Callable, Dict, List, Mapping, Optional

from . import _state

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

    def _fast_encode(value: Any) -> str:
        return "".join(_fast(value, 0))
else:  # pragma: no cover
    _escape = json.encoder.py_encode_basestring  # type: ignore[attr-defined]
    _slow_encoder = json.JSONEncoder(default=str, ensure_ascii=False, allow_nan=False,
                                     separators=(",", ":"))
    _fast_encode = _slow_encoder.encode

_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1
_MAX_DEPTH = 8  # objects nested deeper are refused by the library's decoder
_PLAIN_DEPTH = 64  # past this (a cycle, most likely) a value becomes a placeholder
_SEQUENCES = (list, tuple, set, frozenset)
_NOT_PLAIN = (int,) + _SEQUENCES
_DROP = object()  # a None attribute: left out


def _non_finite(f: float) -> str:
    return "NaN" if f != f else ("Infinity" if f > 0 else "-Infinity")


def _big_int(i: int) -> str:
    try:
        return int.__repr__(i)
    except ValueError:  # beyond sys.get_int_max_str_digits(): hex has no limit
        return hex(i)


def _key(key: Any) -> str:
    return key if type(key) is str else _state.text(key)


def _scalar(value: Any) -> Any:
    """A scalar attribute value the library reads exactly, or _DROP for None.
    Not for containers."""
    if value is None:
        _state.count_input_error()
        return _DROP
    if isinstance(value, str) or value is True or value is False:
        return value
    if isinstance(value, int):
        i = int.__int__(value)  # an exact int even for a subclass with odd methods
        return i if _INT_MIN <= i <= _INT_MAX else _big_int(i)
    if isinstance(value, float):
        f = float.__float__(value)
        return f if math.isfinite(f) else _non_finite(f)
    return _state.text(value)


def _clean(value: Any, depth: int) -> Any:
    """value as the library's attribute decoder takes it (depth: the nesting
    a dict here would have), or _DROP."""
    if isinstance(value, Mapping):
        if depth > _MAX_DEPTH:
            return _stringified(value)
        out: Dict[str, Any] = {}
        for k, v in _items(value):
            c = _clean(v, depth + 1)
            if c is not _DROP:
                out[_key(k)] = c
        return out
    if isinstance(value, _SEQUENCES):
        items = _elements(value)
        for v in items:
            if isinstance(v, (Mapping,) + _SEQUENCES):
                return _stringified(value)
        return [c for c in map(_scalar, items) if c is not _DROP]
    return _scalar(value)


def _items(mapping: Mapping[Any, Any]) -> List[Any]:
    try:
        return list(mapping.items())
    except Exception:  # a mapping whose iteration raises: nothing to keep
        _state.count_input_error()
        return []


def _elements(seq: Any) -> List[Any]:
    try:
        return list(seq)
    except Exception:  # pragma: no cover - a list subclass whose iteration raises
        _state.count_input_error()
        return []


def _plain(value: Any, depth: int = 0) -> Any:
    """value as plain JSON data of any shape (an event payload, a stringified
    attribute): non-finite floats as strings, keys as strings, other objects
    through str() (or their placeholder)."""
    if value is None or isinstance(value, str) or value is True or value is False:
        return value
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        f = float.__float__(value)
        return f if math.isfinite(f) else _non_finite(f)
    if depth >= _PLAIN_DEPTH:
        _state.count_input_error()
        return f"<too deep {type(value).__name__}>"
    if isinstance(value, Mapping):
        return {_key(k): _plain(v, depth + 1) for k, v in _items(value)}
    if isinstance(value, _SEQUENCES):
        return [_plain(v, depth + 1) for v in _elements(value)]
    return _state.text(value)


def _dumps(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    except Exception as exc:  # pragma: no cover - _plain leaves nothing json rejects
        _state.count_input_error()
        return _escape(_state.placeholder(value, exc))


def _stringified(value: Any) -> str:
    text = _fast_text(value)
    return text if text is not None else _dumps(_plain(value))


def _fast_text(value: Any) -> Optional[str]:
    """The fast encoder's output, or None when it failed."""
    try:
        return _fast_encode(value)
    except Exception:  # NaN, odd keys, cycles, a __str__ that raises
        return None


def _careful_encode(attrs: Mapping[str, Any]) -> str:
    out: Dict[str, Any] = {}
    for k, v in _items(attrs):
        c = _clean(v, 1)
        if c is not _DROP:
            out[_key(k)] = c
    return _dumps(out)


def _fits(value: Any, depth: int) -> bool:
    """Whether the fast encoder writes value as the library reads it exactly
    (depth: the nesting a dict here would have). False sends the whole
    document down the careful path."""
    t = type(value)
    if t is str or t is bool or t is float:  # a non-finite float fails the fast encoder
        return True
    if t is int:
        return _INT_MIN <= value <= _INT_MAX
    if t is list or t is tuple:
        for v in value:
            t = type(v)
            if t is str or t is bool or t is float or (t is int and _INT_MIN <= v <= _INT_MAX):
                continue
            return False
        return True
    if t is dict:
        if depth > _MAX_DEPTH:
            return False
        for v in value.values():
            if not _fits(v, depth + 1):
                return False
        return True
    # None, an int subclass, another container: the careful path. Any other
    # object is written as str(), or fails the fast encoder when that raises.
    return not (value is None or isinstance(value, _NOT_PLAIN) or isinstance(value, Mapping))


def encode(attrs: Mapping[str, Any]) -> bytes:
    """attrs as UTF-8 JSON for the C ABI; never raises on odd values or keys."""
    text: Optional[str] = None
    try:
        for v in attrs.values():
            t = type(v)  # the common scalars inline: this loop is on every span and metric
            if t is str or t is float or t is bool:
                continue
            if t is int:
                if _INT_MIN <= v <= _INT_MAX:
                    continue
                break
            if not _fits(v, 1):
                break
        else:
            text = _fast_text(attrs)
    except Exception:  # a mapping whose values() raises, a dict changed meanwhile
        pass
    if text is None:
        text = _careful_encode(attrs)
    return text.encode("utf-8", "surrogatepass")


def encode_value(value: Any) -> bytes:
    """Any value (an event payload) as UTF-8 JSON, with encode()'s care: values
    JSON cannot write go through str() (or a counted placeholder), non-finite
    floats become strings, keys become strings; never raises."""
    text = _fast_text(value)
    if text is None:
        text = _dumps(_plain(value))
    return text.encode("utf-8", "surrogatepass")

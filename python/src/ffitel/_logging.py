"""Log calls: ``info(msg, **attrs)`` and its siblings, and ``emit``, the one
path every record takes (the level functions, LoggingHandler, warnings of the
package itself).

The hot path (``info(msg, **attrs)``) is a threshold compare, two
context-variable reads and one call of the library's built-in log function
(or a UTF-8 encode and one ctypes call). Where the library cannot serve (a
forked child, not found) records go to the standard library's logging on
stderr.
"""

from __future__ import annotations

import traceback
from typing import Any, Callable, Dict, Mapping, Optional

from . import _state
from ._fields import get as _fields_get
from ._fields import merged as _fields_merged
from ._native import E_FORKED, PY_USE_JSON
from ._spans import current as _span_get
from ._state import DEBUG, ERROR, FATAL, INFO, TRACE, WARN

__all__ = ["log", "trace", "debug", "info", "warning", "error", "critical"]


def _level_of(severity: int) -> int:
    """The logging level of an OpenTelemetry severity number (for the fallback)."""
    return (5, 10, 20, 30, 40, 50)[min(5, max(0, (severity - 1) // 4))]


def _emit_fallback(severity: int, msg: Any, attrs: Mapping[str, Any]) -> None:
    try:
        if _state.forked:
            _state.warn_forked()
        fields = _fields_get()
        if fields:
            attrs = {**fields[0], **attrs}
        text = _state.text(msg)
        if attrs:
            text += " " + " ".join(f"{_state.text(k)}={_safe_repr(v)}" for k, v in attrs.items())
        _state.fallback().log(_level_of(severity), "%s", text)
    except Exception:  # logging never raises into the host
        pass


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception as exc:
        _state.count_input_error()
        return _state.placeholder(value, exc)


_load_failure_warned = False


def _emit_slow(severity: int, msg: Any, attrs: Mapping[str, Any]) -> None:
    """The first call (loads the library) or a forked child (falls back)."""
    global _load_failure_warned
    if not _state.forked:
        _state.check_fork()
    if not _state.forked:
        try:
            _state.load()
        except Exception as exc:  # a logging path never raises into the host
            if not _load_failure_warned:
                _load_failure_warned = True
                _state.fallback().warning(
                    "ffitel: cannot load the library, logging to stderr: %s", exc)
            _emit_fallback(severity, msg, attrs)
            return
        if _state.log_fn is not None:
            if severity >= _state.threshold:
                emit(severity, msg, attrs)
            return
    _emit_fallback(severity, msg, attrs)


def emit(severity: int, msg: Any, attrs: Mapping[str, Any]) -> None:
    """Logs one record with the current span and fields, whatever the
    threshold (callers compare first). Never raises."""
    log_fn = _state.log_fn
    if log_fn is None:
        _emit_slow(severity, msg, attrs)
        return
    if type(msg) is not str:
        msg = _state.text(msg)
    s = _span_get()
    native = _state.native_fn
    if native is not None:
        fields = _fields_get()
        rc = native(severity, msg, {**fields[0], **attrs} if fields else attrs,
                    s._handle if s is not None else 0)
        if rc != PY_USE_JSON:
            if rc == E_FORKED:  # compared here: a call costs as much as the rest
                _state.enter_forked_mode()
                _emit_fallback(severity, msg, attrs)
            return
        # a value the native path does not take (a list, a big int...): JSON
        if _state.spool_child:  # a forked child has no JSON path: as text
            rc = native(severity, _clean(msg), _child_attrs(fields, attrs),
                        s._handle if s is not None else 0)
            if rc == E_FORKED:
                _state.enter_forked_mode()
                _emit_fallback(severity, msg, attrs)
            return
    m = msg.encode("utf-8", "surrogatepass")
    a = _fields_merged(attrs)
    try:
        rc = log_fn(severity, m, len(m), a, len(a) if a else 0, s._arg if s is not None else 0)
    except Exception:  # ctypes.ArgumentError: a size beyond the untyped path's range
        rc = _log_typed(severity, m, a, s._handle if s is not None else 0)
    if rc == E_FORKED:
        _state.enter_forked_mode()
        _emit_fallback(severity, msg, attrs)


def _clean(text: str) -> str:
    """text without lone surrogates (replaced), as the native path takes it."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _child_attrs(fields: Any, attrs: Mapping[str, Any]) -> Dict[str, Any]:
    """The fields and attrs of a record in a spool child (docs/SPOOL.md),
    each value one the native path takes: others as their text, None left out."""
    out: Dict[str, Any] = {}
    for k, v in ({**fields[0], **attrs} if fields else attrs).items():
        t = type(v)
        if v is None:
            _state.count_input_error()
            continue
        if t is str:
            v = _clean(v)
        elif not (t is bool or (t is int and -2**63 <= v < 2**63)
                  or (t is float and v == v and v not in (float("inf"), float("-inf")))):
            v = _clean(_state.text(v))
        out[_clean(_state.text(k))] = v
    return out


def _log_typed(severity: int, m: bytes, a: Optional[bytes], handle: int) -> int:
    lib = _state.lib
    if lib is None:
        return 0
    try:
        return int(lib.log(severity, m, len(m), a, len(a) if a else 0, handle))
    except Exception:  # a logging path never raises into the host
        return 0


_NAMES = {"trace": TRACE, "debug": DEBUG, "info": INFO, "information": INFO,
          "warn": WARN, "warning": WARN, "error": ERROR, "err": ERROR,
          "fatal": FATAL, "critical": FATAL}


def severity_number(level: Any) -> int:
    """An OpenTelemetry severity number (1..24) for a level name ("info",
    "WARNING", "fatal"...) or number (clamped to 1..24). Anything else is INFO,
    counted as an input error. Never raises."""
    if type(level) is int:
        return 1 if level < 1 else (24 if level > 24 else level)
    try:
        if isinstance(level, str):
            number = _NAMES.get(level.strip().lower())
            if number is not None:
                return number
        elif isinstance(level, (int, float)) and not isinstance(level, bool) \
                and level == level:
            return max(1, min(24, int(max(-1e9, min(1e9, level)))))
    except Exception:  # a str or number subclass with odd methods
        pass
    _state.count_input_error()
    return INFO


def log(severity: Any, msg: Any, /, **attrs: Any) -> None:
    """Logs msg at severity: an OpenTelemetry severity number (1..24) or a level
    name ("trace", "debug", "info", "warning"/"warn", "error",
    "critical"/"fatal", any case). An unknown level logs at INFO and counts as
    an input error. Never raises."""
    if type(severity) is not int or not 1 <= severity <= 24:
        severity = severity_number(severity)
    if severity >= _state.threshold:
        emit(severity, msg, attrs)


def _level_function(name: str, severity: int, doc: str) -> Callable[..., None]:
    # One body for the six level functions; `severity` is a closure cell,
    # as cheap to read as a constant.
    def level_function(msg: Any, /, **attrs: Any) -> None:
        if _state.threshold <= severity:
            emit(severity, msg, attrs)

    level_function.__name__ = level_function.__qualname__ = name
    level_function.__module__ = "ffitel"
    level_function.__doc__ = doc
    return level_function


_CARRIES = "Carries the current span's ids and fields. Never raises."
trace = _level_function("trace", TRACE, f"Logs msg at TRACE with attributes. {_CARRIES}")
debug = _level_function("debug", DEBUG, f"Logs msg at DEBUG with attributes. {_CARRIES}")
info = _level_function("info", INFO, f"Logs msg at INFO with attributes. {_CARRIES}")
warning = _level_function("warning", WARN, f"Logs msg at WARN with attributes. {_CARRIES}")
error = _level_function("error", ERROR, f"Logs msg at ERROR with attributes. {_CARRIES}")
critical = _level_function("critical", FATAL, f"Logs msg at FATAL with attributes. {_CARRIES}")


def qualified_name(t: Optional[type]) -> str:
    """A class's name as error.type and exception.type carry it: module.QualName,
    builtins bare."""
    if t is None:
        return ""
    module = getattr(t, "__module__", "")
    name = getattr(t, "__qualname__", t.__name__)
    return name if module in ("builtins", "", None) else f"{module}.{name}"


def exception_attributes(exc_type: Optional[type], exc: Optional[BaseException],
                         tb: Any) -> Dict[str, Any]:
    """exception.type, exception.message and exception.stacktrace (semconv) of an
    exception; a broken __str__ leaves the message empty rather than raising."""
    try:
        message = str(exc)
    except Exception:
        message = ""
    try:
        stack = "".join(traceback.format_exception(exc_type, exc, tb))
    except Exception:
        stack = ""
    return {"exception.type": qualified_name(exc_type), "exception.message": message,
            "exception.stacktrace": stack}

"""The ffitel API: lifecycle, log calls, spans, fields, metrics, stats.

State lives in module globals read on every call, so the hot path
(``info(msg, **attrs)``) is a threshold compare, two context-variable reads,
a UTF-8 encode and one ctypes call.

The library is loaded on first use, never at import. A Go runtime does not
survive fork(): in a child forked after loading, every call falls back to the
standard library's logging on stderr (with one warning) and spans become
no-ops. A child forked *before* loading loads its own copy and exports.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import inspect
import json
import logging
import os
import sys
import threading
import traceback
from contextvars import ContextVar
from typing import Any, Callable, Dict, Mapping, Optional, Tuple, TypeVar, Union, cast

from . import _native
from ._attrs import encode as _encode
from ._native import E_FORKED, E_HANDLE, E_INVALID, E_STATE, PY_USE_JSON, Error, ForkedError

__all__ = [
    "Error", "ForkedError", "Span",
    "init_console", "init_telemetry", "shutdown", "phase", "version",
    "log", "trace", "debug", "info", "warning", "error", "critical",
    "span", "current_span", "fields", "inject", "task", "send",
    "counter_add", "histogram_record", "stats",
]

F = TypeVar("F", bound=Callable[..., Any])

TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 1, 5, 9, 13, 17, 21

_PHASES = {0: "none", 1: "console", 2: "telemetry", 3: "shutdown"}
_KINDS = {"internal": 0, "server": 1, "client": 2, "producer": 3, "consumer": 4}

# --- state ------------------------------------------------------------------

_lib: Optional[_native.Native] = None
_log_fn: Optional[Callable[..., int]] = None  # ffitel_log once loaded and usable
# The library's own built-in log(severity, msg, attrs, span) (see
# _native.Native.log_native); None to use ffitel_log with JSON.
_native_fn: Optional[Callable[..., int]] = None
# Severities below _threshold are dropped without a call. 0 until the
# library is loaded (every call then takes the slow path, which loads it).
_threshold = 0
_load_pid = 0
_forked = False  # loaded in a parent, and this is a forked child
_fork_warned = False
_load_lock = threading.Lock()
_atexit_registered = False

# The current span, and the current fields as (dict, encoded JSON).
_span_var: ContextVar[Optional["Span"]] = ContextVar("ffitel.span", default=None)
_fields_var: ContextVar[Optional[Tuple[Dict[str, Any], bytes]]] = ContextVar(
    "ffitel.fields", default=None)
_span_get = _span_var.get
_fields_get = _fields_var.get


def _after_fork_in_child() -> None:
    global _forked, _log_fn, _native_fn, _threshold, _fork_warned, _load_lock
    _load_lock = threading.Lock()  # another thread may have held it at fork time
    if _lib is not None and not _forked:
        _forked = True
        _fork_warned = False
        _log_fn = _native_fn = None
        _threshold = 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _load() -> Optional[_native.Native]:
    """The library, loading it on first use; None in a forked child.

    Raises Error when the library cannot be found or loaded.
    """
    global _lib, _load_pid, _log_fn, _native_fn, _atexit_registered
    if _forked:
        return None
    lib = _lib
    if lib is not None:
        return lib
    with _load_lock:
        if _lib is None:
            lib = _native.load()
            _load_pid = os.getpid()
            _lib = lib
            if not _atexit_registered:
                _atexit_registered = True
                atexit.register(_shutdown_at_exit)
            _register_multiprocessing_finalizer()
            _log_fn = lib.log_untyped or lib.log
            _native_fn = lib.log_native
            _refresh_threshold(lib)
    return _lib


def _register_multiprocessing_finalizer() -> None:
    # multiprocessing children leave through os._exit, which skips atexit;
    # their own exit hook runs Finalize callbacks instead.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        try:
            mp_util.Finalize(None, _shutdown_at_exit, exitpriority=100)
        except Exception:  # pragma: no cover - best effort
            pass


def _refresh_threshold(lib: _native.Native) -> None:
    """Caches the lowest enabled severity (LOG_LEVEL is read once by the library)."""
    global _threshold
    lowest = 25
    for severity in (TRACE, DEBUG, INFO, WARN, ERROR, FATAL):
        rc = lib.log_enabled(severity)
        if rc == E_FORKED:
            _enter_forked_mode()
            return
        if rc == 1:
            lowest = severity
            break
    if lowest > TRACE:  # the level between two names, e.g. DEBUG2
        for severity in range(max(1, lowest - 3), lowest):
            if lib.log_enabled(severity) == 1:
                lowest = severity
                break
    _threshold = lowest


def _enter_forked_mode() -> None:
    global _forked, _log_fn, _native_fn, _threshold
    _forked = True
    _log_fn = _native_fn = None
    _threshold = 0


def _check_forked_pid() -> None:
    """Catches a fork that skipped the at-fork hooks (a raw clone)."""
    if _lib is not None and not _forked and os.getpid() != _load_pid:
        _enter_forked_mode()


# --- fallback: stdlib logging in a forked child ------------------------------

_fallback_logger: Optional[logging.Logger] = None


def _fallback() -> logging.Logger:
    global _fallback_logger
    lg = _fallback_logger
    if lg is None:
        lg = logging.Logger("ffitel.fallback", logging.DEBUG)
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        lg.addHandler(handler)
        lg.propagate = False
        _fallback_logger = lg
    return lg


def _warn_forked() -> None:
    global _fork_warned
    if not _fork_warned:
        _fork_warned = True
        _fallback().warning(
            "ffitel: libffitel was loaded before this process (pid %d) was forked; a Go "
            "runtime does not survive fork(), so this process logs to stderr through "
            "Python logging and its spans and metrics are no-ops. Load ffitel after "
            "forking: call ffitel.init_console()/init_telemetry() in each worker.",
            os.getpid())


def _level_of(severity: int) -> int:
    return (5, 10, 20, 30, 40, 50)[min(5, max(0, (severity - 1) // 4))]


def _emit_fallback(severity: int, msg: Any, attrs: Mapping[str, Any]) -> None:
    try:
        if _forked:
            _warn_forked()
        fields = _fields_get()
        if fields:
            attrs = {**fields[0], **attrs}
        text = str(msg)
        if attrs:
            text += " " + " ".join(f"{k}={v!r}" for k, v in attrs.items())
        _fallback().log(_level_of(severity), "%s", text)
    except Exception:  # logging never raises into the host
        pass


_load_failure_warned = False


def _emit_slow(severity: int, msg: Any, attrs: Mapping[str, Any]) -> None:
    """The first call (loads the library) or a forked child (falls back)."""
    global _load_failure_warned
    if not _forked:
        _check_forked_pid()
    if not _forked:
        try:
            _load()
        except Exception as exc:  # a logging path never raises into the host
            if not _load_failure_warned:
                _load_failure_warned = True
                _fallback().warning("ffitel: cannot load the library, logging to stderr: %s", exc)
            _emit_fallback(severity, msg, attrs)
            return
        if _log_fn is not None:
            if severity >= _threshold:
                _emit(severity, msg, attrs)
            return
    _emit_fallback(severity, msg, attrs)


def _emit(severity: int, msg: Any, attrs: Mapping[str, Any]) -> None:
    """Logs one record with the current span and fields. Never raises."""
    log_fn = _log_fn
    if log_fn is None:
        _emit_slow(severity, msg, attrs)
        return
    if type(msg) is not str:
        msg = str(msg)
    s = _span_get()
    fields = _fields_get()
    native = _native_fn
    if native is not None:
        rc = native(severity, msg, {**fields[0], **attrs} if fields else attrs,
                    s._handle if s is not None else 0)
        if rc != PY_USE_JSON:
            if rc == E_FORKED:
                _enter_forked_mode()
                _emit_fallback(severity, msg, attrs)
            return
        # a value the native path does not take (a list, a big int...): JSON
    m = msg.encode("utf-8", "surrogatepass")
    if attrs:
        a: Optional[bytes] = _encode({**fields[0], **attrs} if fields else attrs)
    elif fields:
        a = fields[1]
    else:
        a = None
    try:
        rc = log_fn(severity, m, len(m), a, len(a) if a else 0, s._arg if s is not None else 0)
    except Exception:  # ctypes.ArgumentError: a size beyond the untyped path's range
        rc = _log_typed(severity, m, a, s._handle if s is not None else 0)
    if rc == E_FORKED:
        _enter_forked_mode()
        _emit_fallback(severity, msg, attrs)


def _log_typed(severity: int, m: bytes, a: Optional[bytes], handle: int) -> int:
    lib = _lib
    if lib is None:
        return 0
    try:
        return int(lib.log(severity, m, len(m), a, len(a) if a else 0, handle))
    except Exception:  # a logging path never raises into the host
        return 0


# --- lifecycle ----------------------------------------------------------------


def _lifecycle(name: str) -> Optional[_native.Native]:
    _check_forked_pid()
    lib = _load()
    if lib is None:
        _warn_forked()
        return None
    rc = getattr(lib, name)()
    if rc == E_FORKED:
        _enter_forked_mode()
        _warn_forked()
        return None
    if rc < 0:
        raise lib.error(rc, "ffitel_" + name)
    _refresh_threshold(lib)
    return lib


def init_console() -> None:
    """Phase 1: structured console logging only (any first call implies it)."""
    _lifecycle("init_console")


def init_telemetry() -> None:
    """Phase 2: upgrades logging in place to OTLP logs, traces and metrics.

    Configured from the environment as it was when the library loaded.
    Raises Error after shutdown. In a child forked after loading it warns
    once and keeps logging to stderr.
    """
    _lifecycle("init_telemetry")


def shutdown(timeout: Optional[float] = 5.0) -> bool:
    """Ends open spans, flushes and stops exporting, within timeout seconds.

    timeout=None uses FFITEL_SHUTDOWN_TIMEOUT_MS. Returns False when the
    deadline cut the flush short (what was not sent is counted as dropped).
    Logging afterwards still reaches the console. Idempotent; does nothing if
    the library was never loaded. Registered with atexit.
    """
    return _bounded("shutdown", timeout)


def flush(timeout: Optional[float] = 5.0) -> bool:
    """Writes queued console lines and exports what is queued, within timeout seconds.

    In phase 2 the console is formatted and written by a background thread
    within about a millisecond (errors at once); flush waits for it. Keeps
    running afterwards. timeout=None uses FFITEL_SHUTDOWN_TIMEOUT_MS. Returns
    False when the deadline cut the export short. Does nothing if the library
    was never loaded or in a forked child.
    """
    return _bounded("flush", timeout)


def _bounded(name: str, timeout: Optional[float]) -> bool:
    """Calls ffitel_shutdown or ffitel_flush with timeout in ms; False when cut short."""
    lib = _lib
    if lib is None or _forked:
        return True
    _check_forked_pid()
    if _forked:
        return True
    ms = -1 if timeout is None else max(0, min(int(timeout * 1000), 2**31 - 1))
    rc = getattr(lib, name)(ms)  # ctypes releases the GIL while it waits
    if rc == E_STATE:
        return False
    if rc == E_FORKED:
        _enter_forked_mode()
        return True
    if rc < 0:
        raise lib.error(rc, "ffitel_" + name)
    return True


def _shutdown_at_exit() -> None:
    try:
        shutdown(None)
    except Exception as exc:  # pragma: no cover - nothing to raise into at exit
        sys.stderr.write(f"ffitel: shutdown at exit: {exc}\n")


def phase() -> str:
    """"none" (not loaded, or a forked child), "console", "telemetry" or "shutdown"."""
    lib = _lib
    if lib is None or _forked:
        return "none"
    rc = lib.phase()
    if rc == E_FORKED:
        _enter_forked_mode()
        return "none"
    return _PHASES.get(rc, "none")


def version() -> str:
    """The library's version (loads it)."""
    lib = _load()
    return lib.version_string if lib is not None else ""


# --- logging ------------------------------------------------------------------


def log(severity: int, msg: Any, /, **attrs: Any) -> None:
    """Logs msg at an OpenTelemetry severity number (1..24). Never raises."""
    if severity >= _threshold:
        _emit(severity, msg, attrs)


def trace(msg: Any, /, **attrs: Any) -> None:
    if _threshold <= TRACE:
        _emit(TRACE, msg, attrs)


def debug(msg: Any, /, **attrs: Any) -> None:
    if _threshold <= DEBUG:
        _emit(DEBUG, msg, attrs)


def info(msg: Any, /, **attrs: Any) -> None:
    """Logs msg with attributes; carries the current span's ids and fields."""
    if _threshold <= INFO:
        _emit(INFO, msg, attrs)


def warning(msg: Any, /, **attrs: Any) -> None:
    if _threshold <= WARN:
        _emit(WARN, msg, attrs)


def error(msg: Any, /, **attrs: Any) -> None:
    if _threshold <= ERROR:
        _emit(ERROR, msg, attrs)


def critical(msg: Any, /, **attrs: Any) -> None:
    if _threshold <= FATAL:
        _emit(FATAL, msg, attrs)


# --- fields -------------------------------------------------------------------


class fields:  # noqa: N801 - used like a function: `with ffitel.fields(...)`
    """Attributes carried by every log record and span started inside.

    Nested scopes merge, the inner value winning. Tracked with contextvars,
    so each thread and asyncio task sees its own.
    """

    __slots__ = ("_attrs", "_token")

    def __init__(self, **attrs: Any) -> None:
        self._attrs = attrs
        self._token: Any = None

    def __enter__(self) -> Dict[str, Any]:
        outer = _fields_get()
        merged = {**outer[0], **self._attrs} if outer else dict(self._attrs)
        self._token = _fields_var.set((merged, _encode(merged)) if merged else None)
        return dict(merged)

    def __exit__(self, *exc: Any) -> None:
        _fields_var.reset(self._token)


def current_fields() -> Dict[str, Any]:
    f = _fields_get()
    return dict(f[0]) if f else {}


# --- spans --------------------------------------------------------------------


class Span:
    """An open span. Obtained from ``with ffitel.span(...) as s``.

    In a forked child, or after shutdown, a span is a no-op (handle 0).
    """

    __slots__ = ("name", "_handle", "_arg", "_tp")

    def __init__(self, name: str, handle: int) -> None:
        self.name = name
        self._handle = handle
        # the handle as the untyped ffitel_log takes it (see _native)
        self._arg: Any = handle if handle < 2**31 else ctypes.c_uint64(handle)
        self._tp: Optional[str] = None

    def __repr__(self) -> str:
        return f"<ffitel.Span {self.name!r} handle={self._handle}>"

    @property
    def is_recording(self) -> bool:
        return self._handle != 0

    def _check(self, rc: int, what: str) -> None:
        if rc >= 0 or rc == E_INVALID:  # E_INVALID: the library kept what decoded
            return
        lib = _lib
        if rc == E_FORKED:
            _enter_forked_mode()
            return
        if lib is None:
            return
        if rc == E_HANDLE and lib.phase() == 3:
            return  # shutdown already ended it
        raise lib.error(rc, what)

    def set_attribute(self, key: str, value: Any) -> "Span":
        return self.set_attributes({key: value})

    def set_attributes(self, attributes: Mapping[str, Any]) -> "Span":
        lib = _lib
        if self._handle and lib is not None and not _forked and attributes:
            a = _encode(attributes)
            self._check(lib.span_set_attributes(self._handle, a, len(a)),
                        "ffitel_span_set_attributes")
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None,
                  **attrs: Any) -> "Span":
        lib = _lib
        if self._handle and lib is not None and not _forked:
            merged = {**attributes, **attrs} if attributes else attrs
            n = name.encode("utf-8", "surrogatepass")
            a = _encode(merged) if merged else None
            self._check(lib.span_add_event(self._handle, n, len(n), a, len(a) if a else 0),
                        "ffitel_span_add_event")
        return self

    def traceparent(self) -> str:
        """The W3C traceparent header value; "" for a no-op span."""
        if self._tp is not None:
            return self._tp
        lib = _lib
        if not self._handle or lib is None or _forked:
            return ""
        try:
            self._tp = lib.read_buffer(lib.span_traceparent, self._handle, initial=64)
        except Error as exc:
            if exc.code == E_FORKED:
                _enter_forked_mode()
                return ""
            raise
        return self._tp

    @property
    def trace_id(self) -> str:
        tp = self.traceparent()
        return tp.split("-")[1] if tp else ""

    @property
    def span_id(self) -> str:
        tp = self.traceparent()
        return tp.split("-")[2] if tp else ""

    def _end(self, exc: Optional[BaseException]) -> None:
        handle, self._handle, self._arg = self._handle, 0, 0
        lib = _lib
        if not handle or lib is None or _forked:
            return
        if exc is None:
            rc = lib.span_end(handle, 1, None, 0)
        else:
            text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            e = text.encode("utf-8", "replace")
            rc = lib.span_end(handle, 0, e, len(e))
        if exc is None:
            self._check(rc, "ffitel_span_end")


_NOOP_SPAN_NAME = "noop"


def _kind_of(kind: Union[str, int]) -> int:
    if isinstance(kind, int):
        return kind
    try:
        return _KINDS[kind.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown span kind {kind!r}; one of {', '.join(_KINDS)}") from None


def _start_span(name: str, kind: int, attributes: Optional[Mapping[str, Any]],
                traceparent: Optional[str]) -> Span:
    _check_forked_pid()
    try:
        lib = _load()
    except Error:
        raise
    if lib is None:
        _warn_forked()
        return Span(name, 0)
    parent = _span_get()
    fields = _fields_get()
    if fields:
        a: Optional[bytes] = _encode({**fields[0], **attributes}) if attributes else fields[1]
    else:
        a = _encode(attributes) if attributes else None
    n = name.encode("utf-8", "surrogatepass")
    tp = traceparent.encode("ascii", "replace") if traceparent else None
    handle = lib.span_start(n, len(n), parent._handle if parent is not None else 0,
                            tp, len(tp) if tp else 0, a, len(a) if a else 0, kind)
    if handle == 0:
        message = lib.error_message()
        rc = lib.phase()
        if rc == E_FORKED:
            _enter_forked_mode()
            _warn_forked()
            return Span(name, 0)
        if rc == 3:
            return Span(name, 0)  # after shutdown: a no-op, like logging to console
        raise Error(f"{message or 'ffitel_span_start failed'}", E_STATE)
    return Span(name, handle)


class span:  # noqa: N801 - used like a function
    """A span around a block (``with``) or a function (decorator).

    The span is the current one inside: log records carry its trace and span
    ids and spans started inside are its children (contextvars, so threads
    and asyncio tasks each have their own). An exception ends it with status
    ERROR and propagates. ``traceparent`` continues a remote trace when there
    is no current span.
    """

    __slots__ = ("_name", "_kind", "_attributes", "_traceparent", "_span", "_token")

    def __init__(self, name: str, kind: Union[str, int] = "internal",
                 attributes: Optional[Mapping[str, Any]] = None,
                 traceparent: Optional[str] = None) -> None:
        self._name = name
        self._kind = _kind_of(kind)
        self._attributes = attributes
        self._traceparent = traceparent
        self._span: Optional[Span] = None
        self._token: Any = None

    def __enter__(self) -> Span:
        s = _start_span(self._name, self._kind, self._attributes, self._traceparent)
        self._span = s
        self._token = _span_var.set(s)
        return s

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        _span_var.reset(self._token)
        s, self._span = self._span, None
        if s is not None:
            s._end(exc)
        return False

    def _fresh(self) -> "span":
        return span(self._name, self._kind, self._attributes, self._traceparent)

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)
            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)
        return cast(F, wrapper)


def current_span() -> Optional[Span]:
    return _span_get()


def inject(carrier: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The current span's propagation carrier as headers (ffitel_span_inject).

    {"traceparent": ...} plus "tracestate" (and "baggage") when present, as
    the configured propagators (OTEL_PROPAGATORS) write them. Empty when
    there is no current (recording) span. With a carrier, fills it in and
    returns it.
    """
    out = carrier if carrier is not None else {}
    s = _span_get()
    if s is None:
        return out
    lib = _lib
    handle = s._handle
    if handle and lib is not None and not _forked:
        try:
            text = lib.read_buffer(lib.span_inject, handle, initial=256)
        except Error as exc:
            if exc.code != E_FORKED:
                raise
            _enter_forked_mode()  # then as below: a cached traceparent or nothing
        else:
            headers = json.loads(text)
            if isinstance(headers, dict):
                for key, value in headers.items():
                    if isinstance(key, str) and isinstance(value, str) and value:
                        out[key] = value
                tp = headers.get("traceparent")
                if s._tp is None and isinstance(tp, str) and tp:
                    s._tp = tp  # as traceparent() caches it: ids stay readable after the end
            return out
    tp = s.traceparent()
    if tp:
        out["traceparent"] = tp
    return out


# --- background tasks (jobs) ----------------------------------------------------

_PROPAGATIONS = {"auto": -1, "child": 0, "link": 1, "none": 2}
_INT32_MAX = 2**31 - 1
_task_warned = False


def _propagation_of(propagation: Union[str, int, None]) -> int:
    if propagation is None:
        return -1
    if isinstance(propagation, str):
        try:
            return _PROPAGATIONS[propagation.lower()]
        except KeyError:
            pass
    elif isinstance(propagation, int) and not isinstance(propagation, bool) \
            and -1 <= propagation <= 2:
        return propagation
    raise ValueError(f"unknown task propagation {propagation!r}; one of None, "
                     f"{', '.join(repr(k) for k in _PROPAGATIONS)}")


def _carrier_value(carrier: Optional[Mapping[str, Any]], key: str) -> Optional[bytes]:
    """carrier[key] as bytes, the key matched case-insensitively (HTTP-style headers)."""
    if not carrier:
        return None
    value = carrier.get(key)
    if value is None:
        for k, v in carrier.items():
            if isinstance(k, str) and k.lower() == key:
                value = v
                break
    if value is None:
        return None
    if isinstance(value, bytes):
        return value
    return str(value).encode("utf-8", "replace")


def _text(value: Any) -> bytes:
    return ("" if value is None else str(value)).encode("utf-8", "surrogatepass")


def _warn_task_once(message: str, **attrs: Any) -> None:
    global _task_warned
    if not _task_warned:
        _task_warned = True
        _emit(WARN, message, attrs)


def _start_task(task_type: str, worker: Any, task_id: Any, attempt: int,
                carrier: Optional[Mapping[str, Any]], propagation: int) -> Span:
    """Starts one task attempt; a no-op span when the library cannot trace it.

    Never raises: telemetry must not stop a job from running.
    """
    name = "process " + task_type
    _check_forked_pid()
    try:
        lib = _load()
    except Exception as exc:  # the library cannot be found or loaded
        _warn_task_once("ffitel.task: the library is unavailable; tasks run without "
                        "telemetry", error=str(exc))
        return Span(name, 0)
    if lib is None:
        _warn_forked()
        return Span(name, 0)
    t, w, i = _text(task_type), _text(worker), _text(task_id)
    tp = _carrier_value(carrier, "traceparent")
    ts = _carrier_value(carrier, "tracestate")
    attempt = max(-_INT32_MAX, min(int(attempt), _INT32_MAX))
    # The current span (say a "poll queue" span) becomes a link of the task
    # span when the carrier gives it a remote parent (ffitel_task_start_in).
    current = _span_get()
    handle = lib.task_start_in(current._handle if current is not None else 0,
                               t, len(t), w, len(w), i, len(i), attempt,
                               tp, len(tp) if tp else 0, ts, len(ts) if ts else 0, propagation)
    if handle == 0:
        message = lib.error_message()
        rc = lib.phase()
        if rc == E_FORKED:
            _enter_forked_mode()
            _warn_forked()
        elif rc != 3:  # after shutdown a task is silently a no-op, like a span
            _warn_task_once("ffitel.task: the task span could not be started; the task "
                            "runs without it", error=message, task_type=task_type)
        return Span(name, 0)
    fields = _fields_get()
    if fields:  # as span() does: the current fields go on the span
        lib.span_set_attributes(handle, fields[1], len(fields[1]))
    return Span(name, handle)


def _exception_attributes(exc: BaseException) -> Dict[str, Any]:
    from ._handler import _qualified_name
    try:
        message = str(exc)
    except Exception:  # a broken __str__ must not replace the task's exception
        message = ""
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:
        stack = ""
    return {"exception.type": _qualified_name(type(exc)), "exception.message": message,
            "exception.stacktrace": stack}


def _end_task(s: Span, exc: Optional[BaseException]) -> None:
    handle, s._handle, s._arg = s._handle, 0, 0
    lib = _lib
    if not handle or lib is None or _forked:
        return
    if exc is None:
        s._check(lib.task_end(handle, 1, None, 0), "ffitel_task_end")
        return
    # Failure: never raise here, the handler's exception must propagate unchanged.
    try:
        attrs = _exception_attributes(exc)
        a = _encode(attrs)
        lib.span_add_event(handle, b"exception", 9, a, len(a))
        et = attrs["exception.type"].encode("utf-8", "replace")
        if lib.task_end(handle, 0, et, len(et)) == E_FORKED:
            _enter_forked_mode()
    except Exception:  # pragma: no cover - defensive
        pass


class task:  # noqa: N801 - used like a function
    """One attempt of a background task (job), on the consumer side.

    A context manager (``with ffitel.task(...) as t``, t is a Span) and a
    decorator (plain and ``async def`` functions). It opens the CONSUMER span
    ``process <task_type>`` with the messaging attributes, makes it the
    current span (logs and spans inside carry its ids) and, on exit, records
    the messaging.client.consumed.messages and messaging.process.duration
    metrics of the attempt.

    ``carrier`` is the dict ``ffitel.inject()`` returned where the job was
    enqueued (inside ``ffitel.send``). ``propagation``: None (the
    FFITEL_TASK_PROPAGATION default, auto: child on attempt 1, a new linked
    trace on retries), "child", "link" or "none". When the task takes the
    carrier's span as its remote parent inside another current span (say a
    ``ffitel.span("poll queue")``), that span is added to it as a link; with
    no carrier the task is a child of the current span. An exception ends the
    attempt as failed (exception event, error status, ``error.type`` = the
    exception class's qualified name on the metrics) and propagates
    unchanged. Without the library (a forked child, not found) the body still
    runs; a task never raises because of telemetry.
    """

    __slots__ = ("_type", "_worker", "_task_id", "_attempt", "_carrier", "_propagation",
                 "_span", "_token")

    def __init__(self, task_type: str, *, worker: str = "", task_id: Any = "",
                 attempt: int = 1, carrier: Optional[Mapping[str, Any]] = None,
                 propagation: Union[str, int, None] = None) -> None:
        if not isinstance(task_type, str) or not task_type:
            raise ValueError(f"task_type must be a non-empty string, not {task_type!r}")
        self._type = task_type
        self._worker = worker
        self._task_id = task_id
        self._attempt = int(attempt)
        self._carrier = carrier
        self._propagation = _propagation_of(propagation)
        self._span: Optional[Span] = None
        self._token: Any = None

    def __enter__(self) -> Span:
        s = _start_task(self._type, self._worker, self._task_id, self._attempt,
                        self._carrier, self._propagation)
        self._span = s
        self._token = _span_var.set(s)
        return s

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        _span_var.reset(self._token)
        s, self._span = self._span, None
        if s is not None:
            _end_task(s, exc)
        return False

    def _fresh(self) -> "task":
        t = task.__new__(task)
        t._type, t._worker, t._task_id = self._type, self._worker, self._task_id
        t._attempt, t._carrier, t._propagation = self._attempt, self._carrier, self._propagation
        t._span, t._token = None, None
        return t

    def __call__(self, fn: F) -> F:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)
            return cast(F, async_wrapper)

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)
        return cast(F, wrapper)


def send(task_type: str, /, **attributes: Any) -> span:
    """The PRODUCER span ``send <task_type>`` around enqueueing a job.

    ``with ffitel.send("SendReport") as s: job["carrier"] = ffitel.inject()``
    -- the carrier then holds this span's context, which ``ffitel.task`` on
    the consumer side continues. Also a decorator, like span().
    """
    attrs = {**attributes,
             "messaging.system": "ffitel",
             "messaging.operation.name": "send",
             "messaging.operation.type": "send",
             "messaging.destination.name": task_type}
    return span("send " + task_type, kind="producer", attributes=attrs)


# --- metrics and stats ----------------------------------------------------------


def _metric_lib() -> Optional[_native.Native]:
    _check_forked_pid()
    lib = _load()
    if lib is None:
        _warn_forked()
    return lib


def counter_add(name: str, value: float = 1, /, **attrs: Any) -> None:
    """Adds value (>= 0) to the monotonic counter name. Raises Error if invalid."""
    lib = _metric_lib()
    if lib is None:
        return
    n = name.encode("utf-8", "surrogatepass")
    a = _encode(attrs) if attrs else None
    rc = lib.counter_add(n, len(n), float(value), a, len(a) if a else 0)
    if rc < 0:
        if rc == E_FORKED:
            _enter_forked_mode()
            return
        raise lib.error(rc, "ffitel_counter_add")


def histogram_record(name: str, value: float, /, unit: str = "", **attrs: Any) -> None:
    """Records value in the histogram name (unit as UCUM: "ms", "By", "{item}")."""
    lib = _metric_lib()
    if lib is None:
        return
    n = name.encode("utf-8", "surrogatepass")
    u = unit.encode("utf-8", "surrogatepass")
    a = _encode(attrs) if attrs else None
    rc = lib.histogram_record(n, len(n), float(value), u, len(u), a, len(a) if a else 0)
    if rc < 0:
        if rc == E_FORKED:
            _enter_forked_mode()
            return
        raise lib.error(rc, "ffitel_histogram_record")


def stats() -> Dict[str, Any]:
    """The pipeline statistics document (the /metrics/events JSON)."""
    _check_forked_pid()
    lib = _load()
    if lib is None:
        raise ForkedError("ffitel: no stats in a child forked after the library was loaded",
                          E_FORKED)
    try:
        text = lib.read_buffer(lib.stats_json, initial=8192)
    except Error as exc:
        if exc.code == E_FORKED:
            _enter_forked_mode()
        raise
    return cast(Dict[str, Any], json.loads(text))

"""Spans: the Span object, the ``span`` context manager and decorator, the
current span (contextvars) and ``inject``.

The current span is read and set only through ``current()``, ``use(span)``
and ``attach``/``detach`` here, so whatever else tracks context (an
OpenTelemetry API bridge, a job framework's hooks) has one place to go.
"""

from __future__ import annotations

import functools
import inspect
import json
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, TypeVar, Union, cast

from . import _fields, _state
from ._attrs import encode as _encode
from ._native import E_FORKED, E_HANDLE, E_INVALID, E_STATE, Error, untyped_handle, utf8

F = TypeVar("F", bound=Callable[..., Any])

_KINDS = {"internal": 0, "server": 1, "client": 2, "producer": 3, "consumer": 4}

# The instrumentation scope of ffitel's own spans (bootstrap.ScopeName), as
# ffitel_span_start names it.
_SCOPE = b"github.com/ffitel/ffitel"

_var: ContextVar[Optional["Span"]] = ContextVar("ffitel.span", default=None)
# The current Span or None; read on every log call. With the OpenTelemetry
# API bridge it may be an API span instead: read only _handle, _arg, _tp,
# name and traceparent() from it (current_span() gives the Span).
current = _var.get

# Set by ffitel.opentelemetry when it registers (one context with the
# OpenTelemetry API): an object whose attach(span) makes span current in
# both worlds and returns a token for its detach(token). None otherwise.
bridge: Any = None


def attach(s: Optional["Span"]) -> Any:
    """Makes s the current span; undo with detach(token)."""
    b = bridge
    if b is not None:
        return b.attach(s)
    return _var.set(s)


def detach(token: Any) -> None:
    b = bridge
    if b is not None:
        b.detach(token)
    else:
        _var.reset(token)


@contextmanager
def use(s: Optional["Span"]) -> Iterator[Optional["Span"]]:
    """``with use(s):`` s is the current span inside (it is not ended on exit)."""
    token = attach(s)
    try:
        yield s
    finally:
        detach(token)


def current_span() -> Optional["Span"]:
    """The current span (the innermost ``ffitel.span`` or ``ffitel.task``), or None."""
    s = _var.get()
    # An OpenTelemetry API span (ffitel.opentelemetry) is current as itself
    # (it has what current() readers use: _handle, _arg, _tp, traceparent());
    # its ffitel.Span face is made here, when asked for.
    return s if s is None or isinstance(s, Span) else s.ffitel_span


class Span:
    """An open span. Obtained from ``with ffitel.span(...) as s``.

    In a forked child, or after shutdown, a span is a no-op (handle 0).
    """

    __slots__ = ("name", "_handle", "_arg", "_tp", "_oc")

    def __init__(self, name: str, handle: int) -> None:
        self.name = name
        self._handle = handle
        # as the untyped ffitel_log takes it (inline for the common small handle)
        self._arg: Any = handle if 0 <= handle < 2147483648 else untyped_handle(handle)
        self._tp: Optional[str] = None
        # ffitel.opentelemetry's cache: (an API Context, the same with this
        # span current in it), built when the API asks for the current Context.
        self._oc: Any = None

    def __repr__(self) -> str:
        return f"<ffitel.{type(self).__name__} {self.name!r} handle={self._handle}>"

    @property
    def is_recording(self) -> bool:
        return self._handle != 0

    def _check(self, rc: int, what: str) -> None:
        if rc >= 0 or rc == E_INVALID:  # E_INVALID: the library kept what decoded
            return
        if _state.forked_rc(rc):
            return
        lib = _state.lib
        if lib is None:
            return
        if rc == E_HANDLE and lib.phase() == _state.PHASE_SHUTDOWN:
            return  # shutdown already ended it
        raise lib.error(rc, what)

    def _take_handle(self) -> int:
        """The handle, leaving this span ended (a no-op) from now on."""
        handle, self._handle, self._arg = self._handle, 0, 0
        return handle

    def set_attribute(self, key: str, value: Any) -> "Span":
        return self.set_attributes({key: value})

    def set_attributes(self, attributes: Mapping[str, Any]) -> "Span":
        lib = _state.loaded()
        if self._handle and lib is not None and attributes:
            a = _encode(attributes)
            self._check(lib.span_set_attributes(self._handle, a, len(a)),
                        "ffitel_span_set_attributes")
        return self

    def add_event(self, name: str, attributes: Optional[Mapping[str, Any]] = None,
                  **attrs: Any) -> "Span":
        lib = _state.loaded()
        if self._handle and lib is not None:
            merged = {**attributes, **attrs} if attributes else attrs
            n = utf8(name)
            a = _encode(merged) if merged else None
            self._check(lib.span_add_event(self._handle, n, len(n), a, len(a) if a else 0),
                        "ffitel_span_add_event")
        return self

    def traceparent(self) -> str:
        """The W3C traceparent header value; "" for a no-op span."""
        if self._tp is not None:
            return self._tp
        lib = _state.loaded()
        if not self._handle or lib is None:
            return ""
        try:
            self._tp = lib.read_buffer(lib.span_traceparent, self._handle, initial=64)
        except Error as exc:
            if _state.forked_rc(exc.code):
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
        handle = self._take_handle()
        lib = _state.loaded()
        if not handle or lib is None:
            return
        if exc is None:
            end = lib.span_end_native
            # status 0 (unset), as ffitel_span_end with ok: the built-in
            # calls ffitel_span_end_ex without ctypes' conversion.
            rc = end(handle, 0, None, 0) if end is not None else lib.span_end(handle, 1, None, 0)
            self._check(rc, "ffitel_span_end")
            return
        detail = _state.text(exc)  # a raising __str__ must not replace the user's exception
        text = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
        e = text.encode("utf-8", "replace")
        lib.span_end(handle, 0, e, len(e))


def check_name(what: str, name: Any) -> str:
    """name, when it is a str: a span name is the programmer's, so anything
    else is a TypeError (logging calls never raise; starting a span may)."""
    if not isinstance(name, str):
        raise TypeError(f"{what}: name must be a str, got {type(name).__name__}")
    return name


def _kind_of(kind: Union[str, int]) -> int:
    if isinstance(kind, int):
        return kind
    try:
        return _KINDS[kind.lower()]
    except (KeyError, AttributeError):
        raise ValueError(f"unknown span kind {kind!r}; one of {', '.join(_KINDS)}") from None


def start(name: str, kind: int, attributes: Optional[Mapping[str, Any]],
          traceparent: Optional[str]) -> Span:
    """Starts a span, a child of the current one; not made current. A no-op
    span in a forked child or after shutdown; raises Error otherwise."""
    lib = _state.library()
    if lib is None:
        return Span(name, 0)
    parent = current()
    if parent is not None and not parent._handle and parent._tp and not traceparent:
        traceparent, parent = parent._tp, None  # a remote parent (an OpenTelemetry context)
    a = _fields.merged(attributes)
    tp = traceparent.encode("ascii", "replace") if traceparent else None
    ph = parent._handle if parent is not None else 0
    tpo: Optional[str] = None
    # The library's built-in (cshim/hostpy.c): ffitel_span_start_ex with
    # ffitel's own scope, as ffitel_span_start, without ctypes' argument
    # conversion; it also hands back the traceparent. An int back means an
    # argument it does not take (a name with lone surrogates): ctypes then.
    # In a spool child both take the spool's child span, as the ctypes pair
    # does (cshim/otelapi.c).
    fn = lib.span_start_native
    r = fn(_SCOPE, name, ph, tp, a, kind, 0, None) if fn is not None else None
    if type(r) is tuple:
        handle, tpo = r
    else:
        n = utf8(name)
        handle = lib.span_start(n, len(n), ph, tp, len(tp) if tp else 0, a, len(a) if a else 0, kind)
    if handle == 0:
        message = _state.start_failure(lib)
        if message is None:
            return Span(name, 0)  # a forked child, or after shutdown: a no-op
        raise Error(message or "ffitel_span_start failed", E_STATE)
    s = Span(name, handle)
    s._tp = tpo
    return s


class Scope:
    """The current span around a block (``with``) or a function (decorator):
    ``_start`` opens it, it is the current span inside, and it ends on exit
    (``Span._end``), failed when an exception leaves the block. Each
    decorated call runs in a fresh copy (``_fresh``), so one decorated
    function may run in several threads or tasks at once."""

    __slots__ = ("_span", "_token")

    def _start(self) -> Span:
        raise NotImplementedError

    def _fresh(self) -> "Scope":
        raise NotImplementedError

    def __enter__(self) -> Span:
        s = self._start()
        self._span = s
        self._token = attach(s)
        return s

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        detach(self._token)
        s, self._span = self._span, None
        if s is not None:
            s._end(exc)
        return False

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


class span(Scope):  # noqa: N801 - used like a function
    """A span around a block (``with``) or a function (decorator).

    The span is the current one inside: log records carry its trace and span
    ids and spans started inside are its children (contextvars, so threads
    and asyncio tasks each have their own). An exception ends it with status
    ERROR and propagates. ``traceparent`` continues a remote trace when there
    is no current span.
    """

    __slots__ = ("_name", "_kind", "_attributes", "_traceparent")

    def __init__(self, name: str, kind: Union[str, int] = "internal",
                 attributes: Optional[Mapping[str, Any]] = None,
                 traceparent: Optional[str] = None) -> None:
        self._name = check_name("ffitel.span", name)
        self._kind = _kind_of(kind)
        self._attributes = attributes
        self._traceparent = traceparent
        self._span: Optional[Span] = None
        self._token: Any = None

    def _start(self) -> Span:
        return start(self._name, self._kind, self._attributes, self._traceparent)

    def _fresh(self) -> "span":
        return span(self._name, self._kind, self._attributes, self._traceparent)


def inject(carrier: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    """The current span's propagation carrier as headers (ffitel_span_inject).

    {"traceparent": ...} plus "tracestate" (and "baggage") when present, as
    the configured propagators (OTEL_PROPAGATORS) write them. Empty when
    there is no current (recording) span. With a carrier, fills it in and
    returns it.
    """
    out = carrier if carrier is not None else {}
    s = current()
    if s is None:
        return out
    lib = _state.loaded()
    handle = s._handle
    if handle and lib is not None:
        try:
            text = lib.read_buffer(lib.span_inject, handle, initial=256)
        except Error as exc:
            if exc.code != E_FORKED:
                raise
            _state.enter_forked_mode()  # then as below: a cached traceparent or nothing
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

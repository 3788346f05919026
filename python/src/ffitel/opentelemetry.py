"""ffitel as the engine behind ``opentelemetry-api``: instrumentation written
against the OpenTelemetry API (``opentelemetry-instrumentation-*``, or your
own ``trace.get_tracer(...)``) exports through ffitel, in ffitel's traces.

    import ffitel
    ffitel.init_telemetry()          # registers ffitel's providers (FFITEL_OTEL_API=auto)
    from opentelemetry import trace
    with ffitel.span("job"):
        with trace.get_tracer("mylib").start_as_current_span("step"):
            ffitel.info("inside")    # carries the "step" span's ids

This module is the only one in ffitel that imports ``opentelemetry`` (an
optional dependency); ``import ffitel`` never does. What it provides:

- ``TracerProvider``/``Tracer``/``Span`` (API spans are ffitel spans: the
  library's pipeline, resource, sampler and loss accounting) and
  ``MeterProvider``/``Meter`` with every API instrument (counter, up-down
  counter, histogram, gauge, observable counter/up-down counter/gauge).
- One context: once registered, ffitel's current span and the API's current
  span are the same. Every ``opentelemetry.context.attach`` also sets ffitel's
  current span, and ``ffitel.span``/``ffitel.task`` attach through the API's
  context (``_spans.bridge``), so either side sees the other's spans. A span
  that is not ffitel's (say a ``NonRecordingSpan`` from
  ``propagate.extract``) is a remote parent for ffitel spans started inside.
- ``register()``: sets the API globals unless another provider is already
  set (then one warning names it and nothing is replaced);
  ``ffitel.init_telemetry()`` calls it unless ``FFITEL_OTEL_API=off``.

See docs/OPENTELEMETRY.md for what is mapped and what is not.
"""

from __future__ import annotations

import contextvars
import ctypes
import functools
import inspect
import logging
import os
import threading
import time
import traceback
import types
import warnings
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from opentelemetry import context as _ctx
from opentelemetry import metrics as _metrics
from opentelemetry import trace as _trace
from opentelemetry.context.context import Context, _RuntimeContext
from opentelemetry.metrics import CallbackOptions, Observation
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.trace import (
    INVALID_SPAN,
    INVALID_SPAN_CONTEXT,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)

from . import _fields, _spans, _state
from ._attrs import encode as _encode
from ._native import untyped_handle, utf8

__all__ = ["MeterProvider", "TracerProvider", "meter_provider", "register", "tracer_provider"]

_TP_CAP = 64
_logger = logging.getLogger(__name__)
_KIND_VALUES = {k: k.value for k in SpanKind}


# --- span contexts and traceparents ------------------------------------------------

def _span_context(tp: str, remote: bool = False) -> SpanContext:
    """A W3C traceparent as a SpanContext (INVALID_SPAN_CONTEXT when malformed)."""
    parts = tp.split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return INVALID_SPAN_CONTEXT
    try:
        return SpanContext(int(parts[1], 16), int(parts[2], 16), is_remote=remote,
                           trace_flags=TraceFlags(int(parts[3][:2], 16) & 0xFF))
    except ValueError:
        return INVALID_SPAN_CONTEXT


def _traceparent(sc: SpanContext) -> str:
    return f"00-{sc.trace_id:032x}-{sc.span_id:016x}-{int(sc.trace_flags) & 0xFF:02x}"


def _attrs(attributes: Any) -> Optional[Dict[str, Any]]:
    """API attributes (a Mapping, maybe BoundedAttributes) as a plain dict, or None."""
    if not attributes:
        return None
    return attributes if type(attributes) is dict else dict(attributes)


def _links_json(links: Iterable[Any]) -> bytes:
    parts = []
    for link in links:
        sc = getattr(link, "context", None)
        if sc is None or not sc.is_valid:
            continue
        a = _attrs(getattr(link, "attributes", None))
        parts.append('{"traceparent":"%s","attributes":%s}'
                     % (_traceparent(sc), _encode(a).decode("utf-8", "surrogatepass") if a else "{}"))
    return ("[" + ",".join(parts) + "]").encode("utf-8", "surrogatepass") if parts else b""


# --- spans ----------------------------------------------------------------------------

class _ApiSpan(_trace.Span):
    """An OpenTelemetry API span that is an ffitel span: one object holds the
    library's handle, and it is what both the API's context and ffitel's
    current-span contextvar hold (``_spans.current()`` reads ``_handle``,
    ``_arg``, ``_tp`` from it, as from an ``ffitel.Span``).
    ``ffitel.current_span()`` and ``ffitel_span`` give its ``ffitel.Span``
    face (``_FfView``), made only when asked for."""

    __slots__ = ("name", "_handle", "_arg", "_tp")

    # What most spans never change: class defaults (the API's Span base has
    # no __slots__, so an instance stores them in its __dict__ when set).
    _sc: Optional[SpanContext] = None
    _rec: Optional[bool] = None  # is_recording(), from the traceparent's flags when first asked
    _status = 0  # StatusCode value: 0 unset, 1 ok, 2 error
    _desc = ""
    _view: Optional[_spans.Span] = None
    _oc: Optional[Tuple[Context, Context]] = None  # _OneContext.get_current's cache

    def __init__(self, name: str, handle: int, tp: Optional[str]) -> None:
        self.name = name
        self._handle = handle
        # as the untyped ffitel_log takes it (inline for the common small handle)
        self._arg: Any = handle if 0 <= handle < 2147483648 else untyped_handle(handle)
        self._tp = tp

    def __repr__(self) -> str:
        return f"<ffitel.opentelemetry span {self.name!r} handle={self._handle}>"

    @property
    def ffitel_span(self) -> _spans.Span:
        """The ffitel.Span behind this API span."""
        v = self._view
        if v is None:
            v = self._view = _FfView(self)
        return v

    def traceparent(self) -> str:
        """The W3C traceparent (as ``ffitel.Span.traceparent``)."""
        return self._tp or ""

    def get_span_context(self) -> SpanContext:
        sc = self._sc
        if sc is None:
            tp = self.traceparent()
            sc = _span_context(tp) if tp else INVALID_SPAN_CONTEXT
            if tp:
                self._sc = sc
        return sc

    def is_recording(self) -> bool:
        if not self._handle:
            return False
        rec = self._rec
        if rec is None:
            rec = self._rec = self.get_span_context().trace_flags.sampled
        return rec

    def _lib(self) -> Any:
        return _state.loaded() if self._handle and self.is_recording() else None

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        a = _attrs(attributes)
        lib = self._lib()
        if lib is not None and a:
            e = _encode(a)
            _quiet(lib.span_set_attributes(self._handle, e, len(e)))

    def set_attribute(self, key: str, value: Any) -> None:
        self.set_attributes({key: value})

    def add_event(self, name: str, attributes: Any = None, timestamp: Optional[int] = None) -> None:
        lib = self._lib()
        if lib is None:
            return
        n = utf8(name)
        a = _attrs(attributes)
        e = _encode(a) if a else None
        _quiet(lib.span_add_event_at(self._handle, n, len(n), e, len(e) if e else 0,
                                     int(timestamp or 0)))

    def add_link(self, context: SpanContext, attributes: Any = None) -> None:
        lib = self._lib()
        if lib is None:
            return
        links = _links_json([_trace.Link(context, attributes)])
        if links:
            _quiet(lib.span_add_link(self._handle, links, len(links)))

    def update_name(self, name: str) -> None:
        lib = self._lib()
        if lib is not None:
            n = utf8(name)
            _quiet(lib.span_update_name(self._handle, n, len(n)))
        self.name = name

    def set_status(self, status: Any, description: Optional[str] = None) -> None:
        if isinstance(status, Status):
            code, desc = status.status_code, status.description
        else:
            code, desc = status, description
        if self._status == StatusCode.OK.value or code is StatusCode.UNSET:
            return  # OK is final; UNSET changes nothing (the API's rules)
        self._status = code.value
        self._desc = (desc or "") if code is StatusCode.ERROR else ""

    def record_exception(self, exception: BaseException, attributes: Any = None,
                         timestamp: Optional[int] = None, escaped: bool = False) -> None:
        if not self.is_recording():
            return
        a: Dict[str, Any] = {
            "exception.type": type(exception).__qualname__,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(
                type(exception), exception, exception.__traceback__)),
            "exception.escaped": str(escaped),
        }
        extra = _attrs(attributes)
        if extra:
            a.update(extra)
        self.add_event("exception", a, timestamp)

    def end(self, end_time: Optional[int] = None) -> None:
        handle = self._handle
        if not handle:
            return
        self._handle = self._arg = 0  # as Span._take_handle
        lib = _state.lib
        if lib is None or _state.forked:
            return
        d = self._desc.encode("utf-8", "surrogatepass") if self._desc else None
        t = end_time if type(end_time) is int else int(end_time or 0)
        fn = lib.span_end_native
        rc = fn(handle, self._status, d, t) if fn is not None else \
            lib.span_end_ex(handle, self._status, d, len(d) if d else 0, t)
        if rc < 0:
            _quiet(rc)


class _ApiView(_ApiSpan):
    """The API face of an ``ffitel.Span`` (``ffitel.span``/``ffitel.task``
    made current through the API's context): everything forwards to it."""

    __slots__ = ("_ff",)

    def __init__(self, ff: _spans.Span) -> None:  # pylint: disable=super-init-not-called
        self._ff = ff
        self._view = ff

    def __repr__(self) -> str:
        return f"<ffitel.opentelemetry span {self._ff.name!r} handle={self._ff._handle}>"

    def traceparent(self) -> str:
        return self._ff.traceparent()

    name = property(lambda self: self._ff.name,  # type: ignore[assignment]
                    lambda self, v: setattr(self._ff, "name", v))
    _handle = property(lambda self: self._ff._handle,  # type: ignore[assignment]
                       lambda self, v: setattr(self._ff, "_handle", v))
    _arg = property(lambda self: self._ff._arg,  # type: ignore[assignment]
                    lambda self, v: setattr(self._ff, "_arg", v))
    _tp = property(lambda self: self._ff._tp,  # type: ignore[assignment]
                   lambda self, v: setattr(self._ff, "_tp", v))


class _FfView(_spans.Span):
    """The ``ffitel.Span`` face of an API span (``ffitel.current_span()``
    inside ``start_as_current_span``): everything forwards to it."""

    __slots__ = ("_api",)

    def __init__(self, api: _ApiSpan) -> None:  # pylint: disable=super-init-not-called
        self._api = api

    def __repr__(self) -> str:
        return f"<ffitel.Span {self._api.name!r} handle={self._api._handle}>"

    name = property(lambda self: self._api.name,  # type: ignore[assignment]
                    lambda self, v: setattr(self._api, "name", v))
    _handle = property(lambda self: self._api._handle,  # type: ignore[assignment]
                       lambda self, v: setattr(self._api, "_handle", v))
    _arg = property(lambda self: self._api._arg,  # type: ignore[assignment]
                    lambda self, v: setattr(self._api, "_arg", v))
    _tp = property(lambda self: self._api._tp,  # type: ignore[assignment]
                   lambda self, v: setattr(self._api, "_tp", v))


def _quiet(rc: int) -> None:
    """API calls never raise: a negative rc only matters when it says "forked"."""
    if rc < 0:
        _state.forked_rc(rc)


_start_warned = False
_USE_CTYPES = 1  # FFITEL_PY_USE_JSON from the span_start built-in


def _kind_value(kind: Any) -> int:
    return kind.value if isinstance(kind, SpanKind) else int(kind or 0)


def _parent_of(context: Optional[Context]) -> Tuple[Any, int, Optional[bytes]]:
    """(the API parent span or None, its ffitel handle, a remote parent's
    traceparent). With one context in force and no explicit context,
    ffitel's current span says it all (one contextvar read)."""
    if context is None and _one is not None and _ctx._RUNTIME_CONTEXT is _one:
        ff = _spans._var.get()
        if ff is None:
            return None, 0, None
        if ff._handle:
            return None, ff._handle, None
        tp = ff._tp
        return None, 0, tp.encode("ascii") if tp else None
    parent = _trace.get_current_span(context)
    if isinstance(parent, _ApiSpan) and parent._handle:
        return parent, parent._handle, None
    psc = parent.get_span_context()
    return parent, 0, _traceparent(psc).encode("ascii") if psc.is_valid else None


def _start(scope: bytes, name: str, context: Optional[Context], kind: Any, attributes: Any,
           links: Any, start_time: Optional[int]) -> _trace.Span:
    global _start_warned
    parent, ph, tp = _parent_of(context)
    lib = _state.lib
    if lib is None or _state.forked:
        try:
            lib = _state.library()
        except Exception:  # the library cannot be found or loaded: as a no-op tracer
            lib = None
        if lib is None:  # a forked child: keep propagating what we were given
            if parent is None:
                parent = _trace.get_current_span(context)
            return parent if not isinstance(parent, _ApiSpan) else NonRecordingSpan(parent.get_span_context())
    a = _fields.merged(attributes if not attributes or type(attributes) is dict else dict(attributes))
    k = kind._value_ if type(kind) is SpanKind else _kind_value(kind)
    ln = _links_json(links) if links else None
    st = start_time if type(start_time) is int else int(start_time or 0)
    if type(name) is not str:
        name = "" if name is None else str(name)
    fn = lib.span_start_native
    r = fn(scope, name, ph, tp, a, k, st, ln or None) if fn is not None else _USE_CTYPES
    if type(r) is tuple:
        handle, tpo = r
    else:  # no built-in, or an argument it does not take (a name with lone surrogates)
        n = utf8(name)
        out = ctypes.create_string_buffer(_TP_CAP)
        handle = lib.span_start_ex(scope, len(scope), n, len(n), ph, tp, len(tp) if tp else 0,
                                   a, len(a) if a else 0, k, st, ln or None, len(ln) if ln else 0,
                                   out, _TP_CAP)
        tpo = out.value.decode("ascii", "replace") if handle else None
    if handle == 0:
        message = _state.start_failure(lib)
        if message is not None and not _start_warned:
            _start_warned = True
            _state.fallback().warning("ffitel.opentelemetry: could not start a span (%s); "
                                      "API spans are no-ops until it can", message)
        if parent is None:
            parent = _trace.get_current_span(context)
        return NonRecordingSpan(parent.get_span_context()) if ph else parent
    return _ApiSpan(name, handle, tpo or None)


class _CurrentSpan:
    """``Tracer.start_as_current_span``: a context manager and a decorator,
    as the API's own; class-based, which costs less than a generator.

    With one context in force, an ffitel API span is made current by setting
    ffitel's contextvar alone: the API's Context with it in is built only
    when someone asks for the current Context (``_OneContext.get_current``)."""

    __slots__ = ("_tracer", "_name", "_context", "_kind", "_attributes", "_links", "_start_time",
                 "_rec_exc", "_set_status", "_end", "_span", "_token", "_fftoken")

    def __init__(self, tracer: "Tracer", name: Any, context: Optional[Context], kind: Any,
                 attributes: Any, links: Any, start_time: Optional[int], record_exception: bool,
                 set_status_on_exception: bool, end_on_exit: bool) -> None:
        self._tracer = tracer
        self._name = name
        self._context = context
        self._kind = kind
        self._attributes = attributes
        self._links = links
        self._start_time = start_time
        self._rec_exc = record_exception
        self._set_status = set_status_on_exception
        self._end = end_on_exit

    def __enter__(self) -> _trace.Span:
        one = _one
        lib = _state.lib
        name = self._name
        if (one is not None and self._context is None and not self._links and lib is not None
                and not _state.forked and _ctx._RUNTIME_CONTEXT is one
                and lib.span_start_native is not None and type(name) is str):
            # The common case, inline (it runs for every span): the parent
            # from ffitel's contextvar, one call into the library, one
            # contextvar set. Anything else goes through _start.
            pff = _spans._var.get()
            ph, tp = 0, None
            if pff is not None:
                ph = pff._handle
                if not ph and pff._tp:
                    tp = pff._tp.encode("ascii")
            attributes = self._attributes
            if attributes:
                a = _fields.merged(attributes if type(attributes) is dict else dict(attributes))
            else:
                f = _fields.get()
                a = f[1] if f else None
            kind = self._kind
            st = self._start_time
            r = lib.span_start_native(
                self._tracer._scope, name, ph, tp, a,
                kind._value_ if type(kind) is SpanKind else _kind_value(kind),
                st if type(st) is int else int(st or 0), None)
            if type(r) is tuple and r[0]:
                s: _trace.Span = _ApiSpan(name, r[0], r[1])
                self._span = s
                self._token = None
                self._fftoken = _spans._var.set(s)
                return s
        s = _start(self._tracer._scope, name, self._context, self._kind, self._attributes,
                   self._links, self._start_time)
        self._span = s
        if one is not None and _ctx._RUNTIME_CONTEXT is one and type(s) is _ApiSpan:
            self._token = None
            self._fftoken = _spans._var.set(s)
        else:
            self._token = _ctx.attach(_trace.set_span_in_context(s))
            self._fftoken = None
        return s

    def __exit__(self, exc_type: Any, exc: Optional[BaseException], tb: Any) -> bool:
        s = self._span
        try:
            if exc is not None and isinstance(exc, Exception) and s.is_recording():
                if self._rec_exc:
                    s.record_exception(exc)
                if self._set_status:
                    s.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        finally:
            ft = self._fftoken
            if ft is not None:
                try:
                    _spans._var.reset(ft)
                except Exception:  # as the API's detach: logged, never raised
                    _logger.exception("Failed to detach context")
            else:
                _ctx.detach(self._token)
            if self._end:
                if type(s) is _ApiSpan and s._handle and not s._status and _state.lib is not None \
                        and _state.lib.span_end_native is not None and not _state.forked:
                    # s.end(), inline for the common span (it runs for every one)
                    handle = s._handle
                    s._handle = s._arg = 0
                    rc = _state.lib.span_end_native(handle, 0, None, 0)
                    if rc < 0:
                        _quiet(rc)
                else:
                    s.end()
        return False

    def _fresh(self) -> "_CurrentSpan":
        return _CurrentSpan(self._tracer, self._name, self._context, self._kind, self._attributes,
                            self._links, self._start_time, self._rec_exc, self._set_status,
                            self._end)

    def __call__(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                with self._fresh():
                    return await fn(*args, **kwargs)
            return async_wrapper

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with self._fresh():
                return fn(*args, **kwargs)
        return wrapper


class _PlainCurrentSpan(_CurrentSpan):
    """``start_as_current_span(name)`` with every other argument at its
    default: two fields to set instead of ten (it runs for every span)."""

    __slots__ = ()
    _context = None
    _kind = SpanKind.INTERNAL
    _attributes = _links = _start_time = None
    _rec_exc = _set_status = _end = True

    def __init__(self, tracer: "Tracer", name: Any) -> None:  # pylint: disable=super-init-not-called
        self._tracer = tracer
        self._name = name


_INTERNAL = SpanKind.INTERNAL


class Tracer(_trace.Tracer):
    """A tracer whose spans are ffitel spans, in the instrumentation scope ``name``."""

    def __init__(self, name: str, version: Optional[str] = None) -> None:
        self.name = name
        self.version = version
        self._scope = utf8(name)

    def start_span(self, name: str, context: Optional[Context] = None,
                   kind: SpanKind = SpanKind.INTERNAL, attributes: Any = None, links: Any = None,
                   start_time: Optional[int] = None, record_exception: bool = True,
                   set_status_on_exception: bool = True) -> _trace.Span:
        return _start(self._scope, name, context, kind, attributes, links, start_time)

    def start_as_current_span(self, name: str, context: Optional[Context] = None,  # type: ignore[override]
                              kind: SpanKind = SpanKind.INTERNAL, attributes: Any = None,
                              links: Any = None, start_time: Optional[int] = None,
                              record_exception: bool = True, set_status_on_exception: bool = True,
                              end_on_exit: bool = True) -> Any:
        if (context is None and attributes is None and links is None and start_time is None
                and kind is _INTERNAL and record_exception is True and set_status_on_exception is True
                and end_on_exit is True):
            return _PlainCurrentSpan(self, name)
        return _CurrentSpan(self, name, context, kind, attributes, links, start_time,
                            record_exception, set_status_on_exception, end_on_exit)


class TracerProvider(_trace.TracerProvider):
    """ffitel's tracer provider: one Tracer per instrumentation scope."""

    def __init__(self) -> None:
        self._tracers: Dict[Tuple[str, Optional[str]], Tracer] = {}

    def get_tracer(self, instrumenting_module_name: str,
                   instrumenting_library_version: Optional[str] = None,
                   schema_url: Optional[str] = None, attributes: Any = None) -> Tracer:
        key = (instrumenting_module_name or "", instrumenting_library_version)
        t = self._tracers.get(key)
        if t is None:
            t = self._tracers.setdefault(key, Tracer(key[0], key[1]))
        return t


# --- one context -------------------------------------------------------------------

def _ffitel_of(span: Any) -> Any:
    """ffitel's current span matching an API current span: an ffitel API span
    itself, the ffitel.Span behind an _ApiView, a remote placeholder (handle
    0, its traceparent) for a foreign valid one, else None."""
    t = type(span)
    if t is _ApiSpan:
        return span
    if t is _ApiView:
        return span._ff
    sc = span.get_span_context()
    if not sc.is_valid:
        return None
    p = _spans.Span("remote parent", 0)
    p._tp = _traceparent(sc)
    return p


_one: Optional["_OneContext"] = None  # the wrapped runtime context once registered


class _Token:
    __slots__ = ("otel", "ff")

    def __init__(self, otel: Any, ff: Any) -> None:
        self.otel = otel
        self.ff = ff


class _OneContext(_RuntimeContext):
    """The API's runtime context, wrapped: every attach also makes the
    matching ffitel span current (the ffitel contextvar), so ffitel's log
    path keeps reading one contextvar."""

    def __init__(self, inner: _RuntimeContext) -> None:
        self._inner = inner
        # The API's own runtime context keeps the current Context in one
        # ContextVar: start_as_current_span sets it directly (None: another
        # runtime context, used through its methods).
        var = getattr(inner, "_current_context", None)
        self._var: Optional[contextvars.ContextVar] = var if isinstance(var, contextvars.ContextVar) else None

    def attach(self, context: Context) -> Any:
        t = self._inner.attach(context)
        return _Token(t, _spans._var.set(_ffitel_of(_trace.get_current_span(context))))

    def get_current(self) -> Context:
        ctx = self._inner.get_current()
        s = _spans._var.get()
        if type(s) is _spans.Span and s._handle:
            # An ffitel.span made current by _Bridge.attach (ffitel's
            # contextvar alone): the current Context is the API's with
            # the span's API face in it. (A span without a handle stands
            # for what the API's Context holds: a remote parent, no span.)
            cur = ctx.get(_SPAN_KEY)
            if type(cur) is _ApiView and cur._ff is s:
                return ctx
            oc = s._oc
            if oc is not None and oc[0] is ctx:
                return oc[1]
            c = Context({**ctx, _SPAN_KEY: _ApiView(s)})
            s._oc = (ctx, c)
            return c
        if type(s) is not _ApiSpan or ctx.get(_SPAN_KEY) is s:
            return ctx
        # An API span made current by start_as_current_span (ffitel's
        # contextvar alone, nothing else attached since): it is the current
        # span of the current Context. Everything that sets the API's
        # context (attach) sets ffitel's contextvar too, so they differ only so.
        oc = s._oc
        if oc is not None and oc[0] is ctx:
            return oc[1]
        c = Context({**ctx, _SPAN_KEY: s})
        s._oc = (ctx, c)
        return c

    def detach(self, token: Any) -> None:
        if type(token) is _Token:
            try:
                _spans._var.reset(token.ff)
            finally:
                self._inner.detach(token.otel)
        else:  # attached before ffitel registered
            self._inner.detach(token)


class _LazyToken:
    """What _Bridge.attach returns for an ffitel.span made current by
    ffitel's contextvar alone: that contextvar's token, and the API's
    current Context then (restored at detach, as the API's own detach
    would: a Context attached inside the span and never detached does not
    outlive it)."""

    __slots__ = ("ff", "ctx")

    def __init__(self, ff: contextvars.Token, ctx: Any) -> None:
        self.ff = ff
        self.ctx = ctx


class _Bridge:
    """``_spans.bridge``: ffitel.span and ffitel.task attach through the API."""

    @staticmethod
    def attach(s: Optional[_spans.Span]) -> Any:
        one = _one
        if (type(s) is _spans.Span and s._handle and one is not None and one._var is not None
                and _ctx._RUNTIME_CONTEXT is one):
            # An ffitel.span: ffitel's contextvar alone, as
            # start_as_current_span does; the API's Context with s in it is
            # built only when someone asks for it (_OneContext.get_current).
            # Not for a span without a handle (a remote parent's placeholder,
            # a no-op span): the API's Context holds what those stand for.
            return _LazyToken(_spans._var.set(s), one._var.get())
        if s is None:
            api: _trace.Span = INVALID_SPAN
        elif type(s) is _FfView:
            api = s._api  # ffitel.current_span() of an API span, made current again
        else:
            api = _ApiView(s)
        return _ctx.attach(_trace.set_span_in_context(api))

    @staticmethod
    def detach(token: Any) -> None:
        if type(token) is _LazyToken:
            try:
                _spans._var.reset(token.ff)
            except Exception:  # another Context's token: logged, never raised, as the API's detach
                _logger.exception("Failed to detach context")
                return
            var = _one._var if _one is not None else None
            if var is not None and var.get() is not token.ctx:
                var.set(token.ctx)  # a Context attached inside the span and never detached
        elif isinstance(token, contextvars.Token):  # from before registration
            _spans._var.reset(token)
        else:
            _ctx.detach(token)


# --- metrics --------------------------------------------------------------------------

_KIND_COUNTER, _KIND_UPDOWN, _KIND_HISTOGRAM, _KIND_GAUGE = 0, 1, 2, 3
_KIND_OBS_COUNTER, _KIND_OBS_UPDOWN, _KIND_OBS_GAUGE = 4, 5, 6

_observables: Dict[int, "_Observable"] = {}
_pending_observables: List["_Observable"] = []
_obs_lock = threading.Lock()
_collect_lock = threading.Lock()  # one run of the callbacks at a time (generators are not reentrant)


class _Instrument:
    """What every ffitel API instrument shares: its native handle, made on
    first use (so a pre-forking master creating meters loads nothing)."""

    _kind = 0

    def _setup(self, scope: bytes, name: str, unit: str, description: str) -> None:
        self._scope = scope
        self._name = name
        self._unit = unit or ""
        self._description = description or ""
        self._h = 0

    def _handle(self, lib: Any) -> int:
        h = self._h
        if not h:
            n, u, d = utf8(self._name), utf8(self._unit), utf8(self._description)
            h = lib.instrument_create(self._scope, len(self._scope), self._kind, n, len(n),
                                      u, len(u), d, len(d))
            self._h = h
        return h

    def _record(self, amount: float, attributes: Any) -> None:
        try:
            lib = _state.library()
        except Exception:
            return
        if lib is None:
            return
        h = self._handle(lib)
        if not h:
            return
        a = _attrs(attributes)
        e = _encode(a) if a else None
        try:
            value = float(amount)
        except (TypeError, ValueError):
            return
        _quiet(lib.instrument_record(h, value, e, len(e) if e else 0))


class _Counter(_Instrument, _metrics.Counter):
    _kind = _KIND_COUNTER

    def __init__(self, scope: bytes, name: str, unit: str = "", description: str = "") -> None:
        self._setup(scope, name, unit, description)

    def add(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._record(amount, attributes)


class _UpDownCounter(_Instrument, _metrics.UpDownCounter):
    _kind = _KIND_UPDOWN

    def __init__(self, scope: bytes, name: str, unit: str = "", description: str = "") -> None:
        self._setup(scope, name, unit, description)

    def add(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._record(amount, attributes)


class _Histogram(_Instrument, _metrics.Histogram):
    _kind = _KIND_HISTOGRAM

    def __init__(self, scope: bytes, name: str, unit: str = "", description: str = "") -> None:
        self._setup(scope, name, unit, description)

    def record(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._record(amount, attributes)


_GaugeBase: Any = getattr(_metrics, "_Gauge", None) or getattr(_metrics, "Gauge", None) or object


class _Gauge(_Instrument, _GaugeBase):  # type: ignore[misc, valid-type]
    _kind = _KIND_GAUGE

    def __init__(self, scope: bytes, name: str, unit: str = "", description: str = "") -> None:
        self._setup(scope, name, unit, description)

    def set(self, amount: float, attributes: Any = None, context: Any = None) -> None:
        self._record(amount, attributes)


class _Observable(_Instrument):
    """An observable instrument. The library never calls into Python, so
    Python runs the callbacks itself (``_collect_observables``: a daemon
    thread a little before each periodic export, and ``ffitel.flush()`` /
    ``ffitel.shutdown()`` before they call the library) and pushes each
    observation with ffitel_instrument_record; the library keeps the latest
    value per attribute set and reports it at each collection."""

    def _setup_callbacks(self, callbacks: Optional[Sequence[Any]]) -> None:
        self._callbacks = list(callbacks or [])
        with _obs_lock:
            _pending_observables.append(self)
        _activate_observables()

    def _observe(self, lib: Any, h: int) -> None:
        options = CallbackOptions()
        for cb in self._callbacks:
            try:
                if isinstance(cb, types.GeneratorType):
                    observations = cb.send(options)
                else:
                    observations = cb(options)
                for o in observations or ():
                    if not isinstance(o, Observation):
                        continue
                    a = _attrs(o.attributes)
                    e = _encode(a) if a else None
                    _quiet(lib.instrument_record(h, float(o.value), e, len(e) if e else 0))
            except Exception as exc:  # a callback's failure is its own
                _state.fallback().warning("ffitel.opentelemetry: callback of %s failed: %s",
                                          self._name, exc)


class _ObservableCounter(_Observable, _metrics.ObservableCounter):
    _kind = _KIND_OBS_COUNTER

    def __init__(self, scope: bytes, name: str, callbacks: Any = None, unit: str = "",
                 description: str = "") -> None:
        self._setup(scope, name, unit, description)
        self._setup_callbacks(callbacks)


class _ObservableUpDownCounter(_Observable, _metrics.ObservableUpDownCounter):
    _kind = _KIND_OBS_UPDOWN

    def __init__(self, scope: bytes, name: str, callbacks: Any = None, unit: str = "",
                 description: str = "") -> None:
        self._setup(scope, name, unit, description)
        self._setup_callbacks(callbacks)


class _ObservableGauge(_Observable, _metrics.ObservableGauge):
    _kind = _KIND_OBS_GAUGE

    def __init__(self, scope: bytes, name: str, callbacks: Any = None, unit: str = "",
                 description: str = "") -> None:
        self._setup(scope, name, unit, description)
        self._setup_callbacks(callbacks)


def _collect_observables() -> None:
    """Runs every observable instrument's callbacks and pushes the values
    into the library (the daemon thread; _state.before_collect)."""
    _activate_observables()
    lib = _state.loaded()
    if lib is None or not _observables:
        return
    with _collect_lock:
        for h, inst in list(_observables.items()):
            inst._observe(lib, h)


_EXPORT_INTERVAL_MS = 60_000  # OTEL_METRIC_EXPORT_INTERVAL's default
_thread: Optional[threading.Thread] = None
_thread_pid = 0


def _export_interval() -> float:
    """OTEL_METRIC_EXPORT_INTERVAL in seconds (the default for a bad value)."""
    try:
        ms = float(os.environ.get("OTEL_METRIC_EXPORT_INTERVAL", "") or _EXPORT_INTERVAL_MS)
    except ValueError:
        ms = _EXPORT_INTERVAL_MS
    return (ms if ms > 0 else _EXPORT_INTERVAL_MS) / 1000.0


def _observer_loop(pid: int) -> None:
    """The daemon thread: callbacks now, then a little before each export of
    the library's periodic reader (which started at init_telemetry, before
    this thread). Ends after shutdown or in a forked child."""
    interval = _export_interval()
    lead = min(1.0, interval / 10)
    start = time.monotonic()
    k = 1
    while True:
        lib = _state.loaded()
        if lib is None or os.getpid() != pid or lib.phase() == _state.PHASE_SHUTDOWN:
            return
        try:
            _collect_observables()
        except Exception:  # pragma: no cover - callbacks' failures are caught inside
            pass
        now = time.monotonic()
        while start + k * interval - lead <= now:
            k += 1
        time.sleep(start + k * interval - lead - now)


def _ensure_observer_thread() -> None:
    """Starts the daemon thread once the library is loaded here (never in a
    pre-forking master that has not loaded it; a forked child of a loaded
    parent has no usable library, so none there either)."""
    global _thread, _thread_pid
    if _state.loaded() is None:
        return
    pid = os.getpid()
    with _obs_lock:
        if _thread is not None and _thread_pid == pid and _thread.is_alive():
            return
        t = threading.Thread(target=_observer_loop, args=(pid,), name="ffitel-otel-observe",
                             daemon=True)  # never keeps the process alive
        _thread, _thread_pid = t, pid
    t.start()


def _after_fork_in_child() -> None:
    global _thread, _obs_lock, _collect_lock
    _thread = None  # threads do not survive fork
    _obs_lock = threading.Lock()  # another thread may have held them at fork time
    _collect_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
_state.before_collect.append(_collect_observables)


def _activate_observables() -> None:
    """Creates the native side of observable instruments once the library is
    loaded (it is never loaded for them: a pre-forking master may make meters)."""
    lib = _state.loaded()
    if lib is None:
        return
    with _obs_lock:
        pending = list(_pending_observables)
        _pending_observables.clear()
    for inst in pending:
        h = inst._handle(lib)
        if h:
            _observables[h] = inst
    if _observables:
        _ensure_observer_thread()


class Meter(_metrics.Meter):
    """A meter whose instruments export through ffitel, in the scope ``name``."""

    def __init__(self, name: str, version: Optional[str] = None, schema_url: Optional[str] = None,
                 attributes: Any = None) -> None:
        super().__init__(name, version=version, schema_url=schema_url)
        self._scope = utf8(name)

    def create_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return _Counter(self._scope, name, unit, description)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "") -> Any:
        return _UpDownCounter(self._scope, name, unit, description)

    def create_histogram(self, name: str, unit: str = "", description: str = "", *,
                         explicit_bucket_boundaries_advisory: Any = None) -> Any:
        return _Histogram(self._scope, name, unit, description)

    def create_gauge(self, name: str, unit: str = "", description: str = "") -> Any:
        return _Gauge(self._scope, name, unit, description)

    def create_observable_counter(self, name: str, callbacks: Any = None, unit: str = "",
                                  description: str = "") -> Any:
        return _ObservableCounter(self._scope, name, callbacks, unit, description)

    def create_observable_up_down_counter(self, name: str, callbacks: Any = None, unit: str = "",
                                          description: str = "") -> Any:
        return _ObservableUpDownCounter(self._scope, name, callbacks, unit, description)

    def create_observable_gauge(self, name: str, callbacks: Any = None, unit: str = "",
                                description: str = "") -> Any:
        return _ObservableGauge(self._scope, name, callbacks, unit, description)


class MeterProvider(_metrics.MeterProvider):
    """ffitel's meter provider: one Meter per instrumentation scope."""

    def __init__(self) -> None:
        self._meters: Dict[Tuple[str, Optional[str]], Meter] = {}

    def get_meter(self, name: str, version: Optional[str] = None, schema_url: Optional[str] = None,
                  attributes: Any = None) -> Meter:
        key = (name or "", version)
        m = self._meters.get(key)
        if m is None:
            m = self._meters.setdefault(key, Meter(key[0], version, schema_url))
        return m


# --- registration -----------------------------------------------------------------

tracer_provider = TracerProvider()
meter_provider = MeterProvider()

_reg_lock = threading.Lock()
_warned = False


def _foreign(current: Any, ours: Any, proxy_types: Tuple[type, ...]) -> Optional[str]:
    """The type name of a provider someone else registered, else None."""
    if current is ours or isinstance(current, proxy_types):
        return None
    t = type(current)
    return f"{t.__module__}.{t.__qualname__}"


def register() -> bool:
    """Makes ffitel's TracerProvider and MeterProvider the OpenTelemetry API's
    globals and joins the two contexts. A provider someone else already set
    (the OpenTelemetry SDK's, say) is left alone: one warning names it, and
    the contexts stay apart when it is the tracer provider. Returns True when
    ffitel's tracer provider is the global one afterwards. Idempotent."""
    global _warned, _one
    from opentelemetry.metrics._internal import _ProxyMeterProvider  # the unset global

    with _reg_lock:
        foreign = []
        tp = _foreign(_trace.get_tracer_provider(), tracer_provider, (_trace.ProxyTracerProvider,))
        mp = _foreign(_metrics.get_meter_provider(), meter_provider, (_ProxyMeterProvider,))
        if tp is None and _trace.get_tracer_provider() is not tracer_provider:
            _trace.set_tracer_provider(tracer_provider)
        if mp is None and _metrics.get_meter_provider() is not meter_provider:
            _metrics.set_meter_provider(meter_provider)
        if tp is not None:
            foreign.append(f"TracerProvider {tp}")
        if mp is not None:
            foreign.append(f"MeterProvider {mp}")
        if tp is None and _spans.bridge is None:
            if not isinstance(_ctx._RUNTIME_CONTEXT, _OneContext):
                _ctx._RUNTIME_CONTEXT = _OneContext(_ctx._RUNTIME_CONTEXT)  # type: ignore[attr-defined]
            _one = _ctx._RUNTIME_CONTEXT  # type: ignore[attr-defined]
            _spans.bridge = _Bridge()
        if foreign and not _warned:
            _warned = True
            warnings.warn(
                "ffitel: another OpenTelemetry " + " and ".join(foreign) + " is already "
                "registered; ffitel leaves it in place, so spans and metrics made through "
                "the OpenTelemetry API go there, not through ffitel (set FFITEL_OTEL_API=off "
                "to silence this, or do not register the other provider)",
                RuntimeWarning, stacklevel=3)
    _activate_observables()
    return tp is None


def registered() -> bool:
    """True when ffitel's providers are the API's and the contexts are one."""
    return _spans.bridge is not None and _trace.get_tracer_provider() is tracer_provider

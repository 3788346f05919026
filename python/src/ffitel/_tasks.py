"""Background tasks (jobs): ``start_task`` and the ``task`` context manager on
the consumer side, ``start_send`` and the ``send`` context manager on the
producer side.

Telemetry never stops a job: without the library (a forked child, not
found, after shutdown) a task is a no-op and its body still runs.
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Union

from . import _fields, _spans, _state
from ._attrs import encode as _encode
from ._logging import emit, exception_attributes
from ._native import utf8
from ._spans import Scope, Span, span
from ._state import WARN

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


def _warn_task_once(message: str, **attrs: Any) -> None:
    global _task_warned
    if not _task_warned:
        _task_warned = True
        emit(WARN, message, attrs)


class Task(Span):
    """One attempt of a task, started by ``start_task``; a Span (the CONSUMER
    span ``process <task_type>``) that ``end`` finishes with the attempt's
    metrics. A no-op (``is_recording`` False) when the library cannot trace it.
    """

    __slots__ = ()

    def end(self, ok: bool = True, error_type: Optional[str] = None) -> None:
        """Ends the attempt: succeeded (ok) or failed with ``error_type`` (the
        ``error.type`` of its metrics; "_OTHER" when empty). Idempotent; never
        raises for a failed attempt."""
        handle = self._take_handle()
        lib = _state.loaded()
        if not handle or lib is None:
            return
        if ok:
            self._check(lib.task_end(handle, 1, None, 0), "ffitel_task_end")
            return
        try:  # a failure must not raise: the job's own error is what matters
            et = (error_type or "").encode("utf-8", "replace")
            _state.forked_rc(lib.task_end(handle, 0, et, len(et)))
        except Exception:  # pragma: no cover - defensive
            pass

    def _end(self, exc: Optional[BaseException]) -> None:  # leaving ``with ffitel.task``
        if exc is None:
            self.end(ok=True)
        else:
            self.fail(exc)

    def fail(self, exc: BaseException) -> None:
        """Ends the attempt as failed by exc: an ``exception`` event on the span,
        error status, ``error.type`` = the exception class's qualified name.
        Never raises."""
        self.end(ok=False, error_type=self.record_exception(exc))

    def record_exception(self, exc: BaseException) -> str:
        """Adds the ``exception`` event of exc (type, message, stack trace) to
        the open attempt without ending it, for hooks that see the exception
        before the attempt ends; returns the ``error.type`` to end it with.
        Never raises."""
        try:
            attrs = exception_attributes(type(exc), exc, exc.__traceback__)
            error_type = attrs["exception.type"]
        except Exception:  # pragma: no cover - defensive
            attrs, error_type = {}, ""
        lib = _state.loaded()
        if self._handle and lib is not None and attrs:
            try:
                a = _encode(attrs)
                lib.span_add_event(self._handle, b"exception", 9, a, len(a))
            except Exception:  # pragma: no cover - defensive
                pass
        return error_type


def start_task(task_type: str, *, worker: Any = "", task_id: Any = "", attempt: int = 1,
               carrier: Optional[Mapping[str, Any]] = None,
               propagation: Union[str, int, None] = None,
               system: Optional[str] = None, destination: Optional[str] = None) -> Task:
    """Starts one attempt of a task and returns it; call ``.end(ok=...,
    error_type=...)`` when it is done. The arguments are ``task``'s. The task
    is not made the current span (``ffitel.task`` does that around a block).

    ``system`` and ``destination``: for a task taken from another job
    framework's queue, its ``messaging.system`` ("celery") and the queue
    (``messaging.destination.name``) on the span and its metrics, instead of
    "ffitel" and the task type.

    Never raises because of telemetry; ValueError for a bad task_type or
    propagation.
    """
    if not isinstance(task_type, str) or not task_type:
        raise ValueError(f"task_type must be a non-empty string, not {task_type!r}")
    return _start(task_type, worker, task_id, int(attempt), carrier,
                  _propagation_of(propagation), system, destination)


def _start(task_type: str, worker: Any, task_id: Any, attempt: int,
           carrier: Optional[Mapping[str, Any]], propagation: int,
           system: Optional[str] = None, destination: Optional[str] = None) -> Task:
    name = "process " + task_type
    try:
        lib = _state.library()
    except Exception as exc:  # the library cannot be found or loaded
        _warn_task_once("ffitel.task: the library is unavailable; tasks run without "
                        "telemetry", error=str(exc))
        return Task(name, 0)
    if lib is None:
        return Task(name, 0)
    t, w, i = utf8(task_type), utf8(worker), utf8(task_id)
    tp = _carrier_value(carrier, "traceparent")
    ts = _carrier_value(carrier, "tracestate")
    attempt = max(-_INT32_MAX, min(attempt, _INT32_MAX))
    # The current span (say a "poll queue" span) becomes a link of the task
    # span when the carrier gives it a remote parent (ffitel_task_start_in).
    current = _spans.current()
    if current is not None and not current._handle and current._tp and not tp:
        # A remote parent that lives only in the OpenTelemetry API's context
        # (say propagate.extract + attach): the task joins its trace.
        tp = current._tp.encode("ascii", "replace")
    parent = current._handle if current is not None else 0
    if system or destination:
        sy, de = utf8(system or ""), utf8(destination or "")
        handle = lib.task_start_ex(parent, sy, len(sy), de, len(de),
                                      t, len(t), w, len(w), i, len(i), attempt,
                                      tp, len(tp) if tp else 0, ts, len(ts) if ts else 0,
                                      propagation)
    else:
        handle = lib.task_start_in(parent, t, len(t), w, len(w), i, len(i), attempt,
                                   tp, len(tp) if tp else 0, ts, len(ts) if ts else 0,
                                   propagation)
    if handle == 0:
        message = _state.start_failure(lib)
        if message is not None:  # a forked child, or after shutdown: quietly a no-op
            _warn_task_once("ffitel.task: the task span could not be started; the task "
                            "runs without it", error=message, task_type=task_type)
        return Task(name, 0)
    fields = _fields.get()
    if fields:  # as span() does: the current fields go on the span
        lib.span_set_attributes(handle, fields[1], len(fields[1]))
    return Task(name, handle)


class task(Scope):  # noqa: N801 - used like a function
    """One attempt of a background task (job), on the consumer side.

    A context manager (``with ffitel.task(...) as t``, t is a Task, a Span)
    and a decorator (plain and ``async def`` functions). It opens the
    CONSUMER span ``process <task_type>`` with the messaging attributes,
    makes it the current span (logs and spans inside carry its ids) and, on
    exit, records the messaging.client.consumed.messages and
    messaging.process.duration metrics of the attempt.

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

    __slots__ = ("_type", "_worker", "_task_id", "_attempt", "_carrier", "_propagation")

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

    def _start(self) -> Task:
        return _start(self._type, self._worker, self._task_id, self._attempt,
                      self._carrier, self._propagation)

    def _fresh(self) -> "task":
        t = task.__new__(task)
        t._type, t._worker, t._task_id = self._type, self._worker, self._task_id
        t._attempt, t._carrier, t._propagation = self._attempt, self._carrier, self._propagation
        t._span, t._token = None, None
        return t


class Sending(Span):
    """The PRODUCER span ``send <task_type>`` of one enqueued job, started by
    ``start_send``: store ``carrier`` with the job, then call ``end()``. A
    no-op (``is_recording`` False, an empty carrier) when the library cannot
    trace it."""

    __slots__ = ("carrier",)

    def __init__(self, name: str, handle: int) -> None:
        super().__init__(name, handle)
        self.carrier: Dict[str, str] = {}

    def end(self, ok: bool = True, error: Optional[Union[BaseException, str]] = None) -> None:
        """Ends the span: sent (ok), or not sent because of error (an
        exception or a description; error status). Idempotent."""
        if ok and error is None:
            self._end(None)
            return
        if isinstance(error, BaseException):
            self._end(error)
            return
        handle = self._take_handle()
        lib = _state.loaded()
        if handle and lib is not None:
            e = str(error or "not sent").encode("utf-8", "replace")
            _state.forked_rc(lib.span_end(handle, 0, e, len(e)))


def _send_attributes(task_type: str, attributes: Optional[Mapping[str, Any]],
                     system: Optional[str], destination: Optional[str]) -> Dict[str, Any]:
    return {**(attributes or {}),
            "messaging.system": system or "ffitel",
            "messaging.operation.name": "send",
            "messaging.operation.type": "send",
            "messaging.destination.name": destination or task_type}


def start_send(task_type: str, /, attributes: Optional[Mapping[str, Any]] = None, *,
               system: Optional[str] = None, destination: Optional[str] = None) -> Sending:
    """Starts the PRODUCER span ``send <task_type>`` (a child of the current
    span; not made current) for a framework whose hooks split enqueueing in
    two: ``s = ffitel.start_send("SendReport")``, store ``s.carrier`` (the
    headers ``ffitel.inject`` would give inside it) with the job, then
    ``s.end()``. ``system`` and ``destination`` as in ``start_task`` (the
    framework and the queue). Never raises because of telemetry.
    """
    if not isinstance(task_type, str) or not task_type:
        raise ValueError(f"task_type must be a non-empty string, not {task_type!r}")
    name = "send " + task_type
    try:
        started = _spans.start(name, 3, _send_attributes(task_type, attributes, system,
                                                         destination), None)
    except Exception as exc:  # the library cannot be found, loaded or start it
        _warn_task_once("ffitel.start_send: the send span could not be started; the job "
                        "is sent without it", error=str(exc), task_type=task_type)
        return Sending(name, 0)
    s = Sending(name, started._take_handle())
    if s._handle:
        with _spans.use(s):
            s.carrier = _spans.inject()
    return s


def send(task_type: str, /, **attributes: Any) -> span:
    """The PRODUCER span ``send <task_type>`` around enqueueing a job.

    ``with ffitel.send("SendReport") as s: job["carrier"] = ffitel.inject()``
    -- the carrier then holds this span's context, which ``ffitel.task`` on
    the consumer side continues. Also a decorator, like span().
    """
    if not isinstance(task_type, str):
        raise TypeError(f"ffitel.send: task_type must be a str, got {type(task_type).__name__}")
    return span("send " + task_type, kind="producer",
                attributes=_send_attributes(task_type, attributes, None, None))

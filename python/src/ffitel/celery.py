"""Celery integration: ``ffitel.celery.instrument(app=None)``.

    # tasks.py, imported by the producer and by `celery worker`
    import ffitel.celery
    app = Celery("shop", broker="redis://127.0.0.1:6379/0")
    ffitel.celery.instrument(app)

What it connects (Celery's signals; Celery is imported here, lazily, not by
``import ffitel``):

- **Producer** (``before_task_publish`` / ``after_task_publish``): a PRODUCER
  span ``send <task name>`` (a child of the current span) around publishing,
  and its trace context in the message headers under ``traceparent`` (and
  ``tracestate``, ``baggage`` when present) -- the W3C names, as
  ``ffitel.inject`` writes them. A retry that Celery re-publishes from a
  worker keeps the headers of the first send: no new send span.
- **Worker** (``task_prerun`` / ``task_failure`` / ``task_retry`` /
  ``task_postrun``): every task runs inside ffitel task telemetry
  (``ffitel.start_task``): the CONSUMER span ``process <task name>``, the
  current span while the task runs, with attempt = Celery's retries + 1, so
  attempt 1 is a child of the send span and a retry starts a new trace
  linked to it (``FFITEL_TASK_PROPAGATION``). ``messaging.system`` is
  ``celery``, ``messaging.destination.name`` the queue,
  ``messaging.consumer.group.name`` the worker's hostname,
  ``messaging.message.id`` the Celery task id; the metrics
  ``messaging.client.consumed.messages`` and ``messaging.process.duration``
  carry the same. A failure or retry records the exception and ends the
  attempt with error status and ``error.type``. Every log record of the
  task (``ffitel.info``, and stdlib ``logging`` through
  ``ffitel.LoggingHandler``) carries the span's ids and the field
  ``celery.task_id``.
- **Prefork pools**: the master imports the app and forks its pool. Each
  pool process calls ``ffitel.init_telemetry()`` in ``worker_process_init``
  (loading its own copy of the library) and ``ffitel.shutdown()`` in
  ``worker_process_shutdown``, so a process recycled by
  ``--max-tasks-per-child`` exports everything it logged before it exits.
  With ``logging_handler`` (the default) it also adds an
  ``ffitel.LoggingHandler`` to the root logger there, never in the master.

The master must not load the library: a Go runtime does not survive fork(),
so a pool process forked from a master that had loaded it cannot export.
Nothing here loads it in the master; do not call ffitel (``ffitel.info``,
``init_telemetry``, a LoggingHandler on the root logger) at the import of
the app module or in master-side signals. A pool process that finds itself
forked from such a master says so once on stderr.

``app``: when given, the worker side instruments only that app's tasks;
Celery's publish signals are process-wide, so every app publishing in this
process gets send spans.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Optional

from . import _spans, _state
from ._fields import fields
from ._handler import LoggingHandler
from ._lifecycle import init_telemetry, shutdown
from ._tasks import Sending, Task, start_send, start_task

SYSTEM = "celery"
# The message headers that carry the trace context (W3C Trace Context and Baggage).
HEADER_KEYS = ("traceparent", "tracestate", "baggage")
# The log field naming the Celery task id on every record of a task.
TASK_ID_FIELD = "celery.task_id"

_UID = "ffitel.celery"
_SIGNALS = ("before_task_publish", "after_task_publish", "task_prerun", "task_failure",
            "task_retry", "task_postrun", "worker_process_init", "worker_process_shutdown")

_app: Any = None
_logging_handler = True
_handlers: Dict[str, Any] = {}
_publishing = threading.local()  # .sending: the send span between before and after publish


class _Running:
    """The telemetry of one running task attempt, between prerun and postrun."""

    __slots__ = ("task", "token", "fields", "error_type", "retried")

    def __init__(self, task: Task, token: Any, scope: fields) -> None:
        self.task = task
        self.token = token
        self.fields = scope
        self.error_type: Optional[str] = None
        self.retried = False


_running: Dict[str, _Running] = {}


def instrument(app: Any = None, *, logging_handler: bool = True) -> None:
    """Connects ffitel to Celery's signals (see the module docstring).
    Idempotent: a second call replaces the first one's settings."""
    global _app, _logging_handler
    from celery import signals  # lazily: ffitel does not depend on Celery

    _app = app
    _logging_handler = logging_handler
    for name in _SIGNALS:
        handler = globals()["_on_" + name]
        _handlers[name] = handler
        getattr(signals, name).connect(handler, weak=False, dispatch_uid=_UID + "." + name)


def uninstrument() -> None:
    """Disconnects what ``instrument`` connected."""
    from celery import signals

    for name in _SIGNALS:
        getattr(signals, name).disconnect(dispatch_uid=_UID + "." + name)
    _handlers.clear()


def _ours(task: Any) -> bool:
    return _app is None or getattr(task, "app", None) is _app


# --- producer ----------------------------------------------------------------

def _on_before_task_publish(sender: Any = None, headers: Optional[Dict[str, Any]] = None,
                            routing_key: Any = None, body: Any = None, **_: Any) -> None:
    try:
        left: Optional[Sending] = getattr(_publishing, "sending", None)
        if left is not None:  # the previous publish in this thread raised
            _publishing.sending = None
            left.end(ok=False, error="publish did not complete")
        if headers is None:
            return
        if (headers.get("retries") or 0) > 0 and headers.get("traceparent"):
            return  # a retry re-published by the worker: keep the first send's context
        task_name = str(sender or headers.get("task") or "")
        if not task_name:
            return
        task_id = headers.get("id")
        if task_id is None and isinstance(body, dict):  # task protocol 1
            task_id = body.get("id")
        attrs = {"messaging.message.id": str(task_id)} if task_id else None
        s = start_send(task_name, attrs, system=SYSTEM, destination=str(routing_key or ""))
        if s.is_recording:
            headers.update(s.carrier)
            _publishing.sending = s
    except Exception as exc:  # telemetry never stops a publish
        _warn_once("ffitel.celery: could not trace a publish", exc)


def _on_after_task_publish(**_: Any) -> None:
    s: Optional[Sending] = getattr(_publishing, "sending", None)
    if s is not None:
        _publishing.sending = None
        s.end()


# --- worker --------------------------------------------------------------------

def _carrier_of(request: Any) -> Dict[str, str]:
    """The trace headers of the message: Celery copies message headers onto
    the request (and keeps the custom ones in request.headers)."""
    carrier: Dict[str, str] = {}
    custom = getattr(request, "headers", None) or {}
    for key in HEADER_KEYS:
        value = getattr(request, key, None)
        if value is None and isinstance(custom, dict):
            value = custom.get(key)
        if isinstance(value, str) and value:
            carrier[key] = value
    return carrier


def _on_task_prerun(sender: Any = None, task_id: Any = None, task: Any = None,
                    **_: Any) -> None:
    task = task if task is not None else sender
    if task is None or not _ours(task) or task_id is None:
        return
    try:
        request = task.request
        delivery = getattr(request, "delivery_info", None) or {}
        queue = delivery.get("routing_key") or delivery.get("queue") or ""
        t = start_task(task.name, worker=getattr(request, "hostname", None) or "",
                       task_id=str(task_id), attempt=int(getattr(request, "retries", 0) or 0) + 1,
                       carrier=_carrier_of(request), system=SYSTEM, destination=str(queue))
        scope = fields(**{TASK_ID_FIELD: str(task_id)})
        scope.__enter__()
        token = _spans.attach(t)
        _running[str(task_id)] = _Running(t, token, scope)
    except Exception as exc:  # telemetry never stops a task
        _warn_once("ffitel.celery: could not start a task's telemetry", exc)


def _on_task_failure(sender: Any = None, task_id: Any = None, exception: Any = None,
                     **_: Any) -> None:
    running = _running.get(str(task_id))
    if running is not None and isinstance(exception, BaseException):
        # Recorded now, while the traceback is whole; ended in postrun, so
        # Celery's own error line still carries the span's ids.
        running.error_type = running.task.record_exception(exception)


def _on_task_retry(sender: Any = None, request: Any = None, reason: Any = None,
                   **_: Any) -> None:
    running = _running.get(str(getattr(request, "id", "")))
    if running is None:
        return
    running.retried = True
    cause = getattr(reason, "exc", None) or reason
    if isinstance(cause, BaseException):
        running.error_type = running.task.record_exception(cause)
    else:
        running.error_type = "celery.exceptions.Retry"
    running.task.set_attribute("celery.retry.scheduled", True)


def _on_task_postrun(sender: Any = None, task_id: Any = None, state: Any = None,
                     **_: Any) -> None:
    running = _running.pop(str(task_id), None)
    if running is None:
        return
    try:
        if running.error_type is not None:
            running.task.end(ok=False, error_type=running.error_type)
        elif state in (None, "SUCCESS", "IGNORED"):
            running.task.end(ok=True)
        else:  # REJECTED, or a failure no signal described
            running.task.end(ok=False, error_type=str(state))
    finally:
        try:
            _spans.detach(running.token)
            running.fields.__exit__(None, None, None)
        except ValueError:  # pragma: no cover - postrun in another context
            pass


# --- pool processes -------------------------------------------------------------

def _on_worker_process_init(**_: Any) -> None:
    if _state.forked:
        _state.fallback().warning(
            "ffitel.celery: the Celery master loaded libffitel before forking this pool "
            "process, which therefore cannot export. Do not call ffitel in the master "
            "(at the import of the app module, or in master-side signals).")
        return
    try:
        init_telemetry()
        if _logging_handler:
            import logging
            root = logging.getLogger()
            if not any(isinstance(h, LoggingHandler) for h in root.handlers):
                root.addHandler(LoggingHandler())
    except Exception as exc:
        _warn_once("ffitel.celery: could not initialise telemetry in a pool process", exc)


def _on_worker_process_shutdown(**_: Any) -> None:
    for task_id in list(_running):  # a task cut short (time limit, exit)
        running = _running.pop(task_id)
        running.task.end(ok=False, error_type="WorkerLostError")
    try:
        shutdown()
    except Exception as exc:  # pragma: no cover - nothing to raise into at exit
        _warn_once("ffitel.celery: shutdown in a pool process failed", exc)


_warned = False


def _warn_once(message: str, exc: BaseException) -> None:
    global _warned
    if not _warned:
        _warned = True
        _state.fallback().warning("%s: %s", message, exc)

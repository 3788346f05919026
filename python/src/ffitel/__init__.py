"""ffitel: two-phase telemetry for Python workers, on the libffitel core.

    import ffitel
    ffitel.init_console()                      # phase 1: console logging only
    ffitel.info("wiring up", step=1)
    ffitel.init_telemetry()                    # phase 2: OTLP logs, traces, metrics
    with ffitel.span("charge", kind="client", attributes={"amount": 5}) as s:
        ffitel.info("charged card", order_id=42)
    with ffitel.send("SendReport"):            # producer: enqueue a job
        job = {"carrier": ffitel.inject()}
    with ffitel.task("SendReport", worker="w", task_id="t-1", attempt=1,
                     carrier=job["carrier"]):  # consumer: one attempt
        ffitel.info("working")
    eid = ffitel.publish_event("payment.processed", {"amount": 5},
                               namespace="payments", correlation_id="c-1")
    with ffitel.subscribe("payment.*") as sub:  # in-process (fast) events
        events = sub.poll(timeout=1.0)         # DomainEvent dicts
    t = ffitel.start_task("SendReport", task_id="t-2")  # when no block fits (hooks)
    t.end(ok=False, error_type="TimeoutError")
    s = ffitel.start_send("SendReport")        # producer side, split in two (hooks)
    job = {"carrier": s.carrier}; s.end()
    ffitel.flush()                             # console lines and queued telemetry out now
    ffitel.shutdown()                          # also registered with atexit

Importing this package loads nothing: libffitel.so is loaded on first use
(found through FFITEL_LIBRARY, the copy installed with the package, or the
build tree), so a pre-forking master may import it and fork workers that each
load their own copy. The library reads its configuration from the
environment once, when it is loaded.

Where each concept lives: _state (the loaded library, fork detection, the
stderr fallback), _native (the one module that speaks ctypes), _lifecycle,
_logging and _handler (log calls, LoggingHandler), _fields, _spans (the
current span, inject), _tasks, _metrics, _events.
"""

from ._events import Subscription, publish_event, subscribe
from ._fields import current_fields, fields
from ._handler import LoggingHandler, severity_of
from ._lifecycle import flush, init_console, init_telemetry, phase, shutdown, version
from ._logging import critical, debug, error, info, log, trace, warning
from ._metrics import counter_add, histogram_record, stats
from ._native import Error, ForkedError, library_path
from ._spans import Span, current_span, inject, span
from ._tasks import Sending, Task, send, start_send, start_task, task

__version__ = "0.1.0"

__all__ = [
    "Error",
    "ForkedError",
    "LoggingHandler",
    "Sending",
    "Span",
    "Subscription",
    "Task",
    "counter_add",
    "critical",
    "current_fields",
    "current_span",
    "debug",
    "error",
    "fields",
    "flush",
    "histogram_record",
    "info",
    "init_console",
    "init_telemetry",
    "inject",
    "library_path",
    "log",
    "phase",
    "publish_event",
    "send",
    "severity_of",
    "shutdown",
    "span",
    "start_send",
    "start_task",
    "stats",
    "subscribe",
    "task",
    "trace",
    "version",
    "warning",
]

"""Domain events: publish_event() and subscribe() on the library's event ABI.

Publishing is not a logging path: every failure raises ffitel.Error with the
library's message (FFITEL_E_INVALID for a missing namespace, correlation id
or name; FFITEL_E_UNAVAILABLE when durable delivery failed).
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Dict, List, Optional, Union

from . import _fields, _native, _spans, _state
from ._attrs import encode as _encode
from ._attrs import encode_value as _encode_value
from ._native import E_FORKED, E_HANDLE, E_INVALID, Error, ForkedError

__all__ = ["publish_event", "subscribe", "Subscription", "DELIVERY_MODES"]

DELIVERY_MODES = {"durable": 0, "fast": 1, "broadcast": 2}

_ID_CAP = 64  # an event id is a 36-character UUIDv7
MAX_PAYLOAD_BYTES = 1 << 20  # the library's limit on payload_json (cshim maxAttrsJSONBytes)
_POLL_BUFFER = 4096
# One ffitel_event_poll waits at most this long, so a Python signal handler
# (Ctrl-C) runs within a quarter second even during poll(timeout=None).
_POLL_SLICE_MS = 250


def _lib_or_raise(what: str) -> _native.Native:
    _state.check_fork()
    lib = _state.load()
    if lib is None:
        raise ForkedError(f"ffitel: {what} is unavailable in a child forked after the library "
                          "was loaded; load ffitel after forking", E_FORKED)
    return lib


def _delivery_of(delivery: Union[str, int]) -> int:
    if isinstance(delivery, str):
        mode = DELIVERY_MODES.get(delivery.lower())
        if mode is not None:
            return mode
    elif isinstance(delivery, int) and not isinstance(delivery, bool) and 0 <= delivery <= 2:
        return delivery
    raise Error(f"ffitel.publish_event: unknown delivery {delivery!r}; one of "
                f"{', '.join(repr(k) for k in DELIVERY_MODES)} (FFITEL_E_INVALID)", E_INVALID)


def publish_event(name: str, payload: Any = None, *, namespace: Optional[str] = None,
                  correlation_id: Optional[str] = None, task_uuid: Any = "",
                  step_uuid: Any = None, step_name: Optional[str] = None,
                  fired_by: Optional[str] = None,
                  delivery: Union[str, int] = "fast") -> str:
    """Publishes the domain event ``name`` and returns its id (a UUIDv7).

    ``payload`` is any JSON-serialisable value (None means ``{}``); values JSON
    cannot carry are written as for log attributes (``str()``, non-finite
    floats as strings). ``namespace`` and ``correlation_id`` default to the
    current ``ffitel.fields(...)`` values of those names. The metadata keyword
    arguments that are None are left out; the library adds ``fired_at``,
    ``fired_by`` (unless given) and the trace context of its
    ``publish_domain_event`` span. That span starts its own trace: the C ABI
    takes no parent, so it is not a child of the current ``ffitel.span``.

    ``delivery``: "fast" (in-process subscribers, including ``subscribe()``),
    "durable" (the FFITEL_EVENTS_DURABLE_URL sink, opened at init_telemetry)
    or "broadcast" (both, one event, one id).

    Raises ffitel.Error: code FFITEL_E_INVALID for a missing name, namespace
    or correlation id or an unknown delivery; FFITEL_E_UNAVAILABLE when the
    durable path failed (no sink configured, connection lost).
    """
    lib = _lib_or_raise("publish_event")
    mode = _delivery_of(delivery)
    if namespace is None or correlation_id is None:
        current = _fields.get()
        if current:
            if namespace is None:
                namespace = current[0].get("namespace")
            if correlation_id is None:
                correlation_id = current[0].get("correlation_id")
    metadata: Dict[str, Any] = {}
    for key, value in (("namespace", namespace), ("correlation_id", correlation_id),
                       ("task_uuid", task_uuid), ("step_uuid", step_uuid),
                       ("step_name", step_name), ("fired_by", fired_by)):
        if value is not None:
            metadata[key] = value if isinstance(value, str) else _state.text(value)  # a uuid.UUID
    n = _event_name(name)
    p = _encode_value({} if payload is None else payload)
    if len(p) > MAX_PAYLOAD_BYTES:
        _state.count_input_error()
        raise Error(f"ffitel.publish_event: payload too large ({len(p)} bytes > "
                    f"{MAX_PAYLOAD_BYTES}) as JSON; nothing published (FFITEL_E_INVALID)",
                    E_INVALID)
    m = _encode(metadata)
    # Inside a span the publish span becomes its child (ffitel_event_publish_in).
    current = _spans.current()
    handle = getattr(current, "_handle", 0) or 0 if current is not None else 0
    # rc >= cap cannot happen with a 36-byte id; never call again (grow=False):
    # that would publish a second event.
    rc, event_id = lib.fill(lib.event_publish_in, (handle, n, len(n), p, len(p), m, len(m), mode),
                            _ID_CAP, grow=False)
    _state.check(lib, rc, "ffitel_event_publish")
    return event_id.decode("ascii", "replace")


def _event_name(name: Any) -> bytes:
    """name as UTF-8, or Error naming what is wrong with it: a NUL or a lone
    surrogate would reach subscribers as a different name."""
    if not isinstance(name, str):
        raise Error(f"ffitel.publish_event: invalid event name: must be a str, got "
                    f"{type(name).__name__} (FFITEL_E_INVALID)", E_INVALID)
    problem = None
    if "\0" in name:
        problem = "it contains a NUL character"
    else:
        try:
            return name.encode("utf-8")
        except UnicodeEncodeError as exc:
            problem = (f"it contains a lone surrogate ({name[exc.start]!r} at index "
                       f"{exc.start}), which is not valid UTF-8")
    _state.count_input_error()
    raise Error(f"ffitel.publish_event: invalid event name {name!r}: {problem}; nothing "
                "published (FFITEL_E_INVALID)", E_INVALID)


class Subscription:
    """A subscription to in-process (fast and broadcast) events.

    Events whose name matches the pattern queue in the library (at most 1024;
    when full the oldest is dropped and counted in
    ``stats()["in_process_bus"]["ffi_channel_drops"]``) until polled. A
    context manager: leaving the block unsubscribes. Safe to poll from
    several threads (each event goes to one of them).
    """

    _lib: Optional[_native.Native] = None  # None once closed

    def __init__(self, pattern: str) -> None:
        lib = _lib_or_raise("subscribe")
        p = pattern.encode("utf-8", "surrogatepass")
        handle = lib.event_subscribe(p, len(p))
        if handle == 0:
            message = lib.error_message()
            if _state.forked_rc(lib.phase()):
                raise ForkedError(f"{message} (FFITEL_E_FORKED)", E_FORKED)
            raise Error(f"{message or 'ffitel_event_subscribe: invalid pattern'} "
                        "(FFITEL_E_INVALID)", E_INVALID)
        self.pattern = pattern
        self._lib: Optional[_native.Native] = lib
        self._handle = int(handle)
        self._cap = _POLL_BUFFER  # grows to the largest event seen
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"handle={self._handle}"
        return f"<ffitel.Subscription {self.pattern!r} {state}>"

    @property
    def closed(self) -> bool:
        return self._lib is None

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Unsubscribes; queued events are released. Idempotent."""
        lock = self.__dict__.get("_lock")
        if lock is None:  # __init__ failed
            return
        with lock:
            lib, self._lib = self._lib, None
        if lib is None or _state.forked:
            return
        _state.forked_rc(lib.event_unsubscribe(self._handle))
        # E_HANDLE: already gone (another thread, or the library's shutdown)

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # pragma: no cover - interpreter teardown
            pass

    def _poll_one(self, lib: _native.Native, timeout_ms: int) -> Optional[str]:
        """One event as JSON text, or None when none arrived within timeout_ms."""
        # Too small a buffer leaves the event queued; the retry takes it with
        # one that fits, without waiting again.
        n, data = lib.fill(lib.event_poll, (self._handle, timeout_ms), self._cap,
                           retry=(self._handle, 0))
        if n == 0:
            return None
        if n < 0:
            if n == E_HANDLE and self._lib is None:
                return None  # closed meanwhile (another thread)
            _state.check(lib, n, "ffitel_event_poll")
        if n >= self._cap:
            self._cap = n + 1
        return data.decode("utf-8", "replace")

    def poll(self, timeout: Optional[float] = 1.0,
             max_events: Optional[int] = None) -> List[Dict[str, Any]]:
        """The queued events, oldest first, waiting up to ``timeout`` seconds
        for the first one (0: do not wait; None: wait until one arrives).

        Each event is a dict shaped like the DomainEvent JSON: ``event_id``,
        ``event_name``, ``event_version``, ``payload``, ``metadata``. Returns
        at most ``max_events`` (None: everything queued); [] when nothing
        arrived. The wait releases the GIL and is sliced so Ctrl-C is handled
        promptly. Raises Error on a closed subscription.
        """
        lib = self._lib
        if lib is None:
            raise Error(f"ffitel: subscription {self.pattern!r} is closed "
                        "(FFITEL_E_HANDLE)", E_HANDLE)
        _state.check_fork()
        if _state.forked:
            raise ForkedError("ffitel: a subscription does not survive fork() "
                              "(FFITEL_E_FORKED)", E_FORKED)
        limit = max_events if max_events is not None else -1
        if limit == 0:
            return []
        deadline = None if timeout is None else time.monotonic() + max(0.0, timeout)
        first: Optional[str] = None
        while True:
            if deadline is None:
                wait_ms = _POLL_SLICE_MS
            else:
                left = deadline - time.monotonic()
                wait_ms = max(0, min(_POLL_SLICE_MS, int(left * 1000 + 0.999)))
            first = self._poll_one(lib, wait_ms)
            if first is not None or self._lib is None:
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
        if first is None:
            return []
        out = [json.loads(first)]
        while limit < 0 or len(out) < limit:
            doc = self._poll_one(lib, 0)
            if doc is None:
                break
            out.append(json.loads(doc))
        return out


def subscribe(pattern: str) -> Subscription:
    """Subscribes to in-process events: an exact name, "payment.*" (every
    name under "payment.") or "*". Use as ``with ffitel.subscribe("payment.*")
    as sub: events = sub.poll(timeout=1.0)``. Raises Error for a bad pattern.
    """
    return Subscription(pattern)

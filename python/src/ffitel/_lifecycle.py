"""The two phases and the end: init_console, init_telemetry, flush, shutdown."""

from __future__ import annotations

import os
from typing import Optional

from . import _state

_PHASES = {0: "none", 1: "console", 2: "telemetry", 3: "shutdown"}


def _init(name: str) -> None:
    native = _state.library()
    if native is None:
        return
    rc = getattr(native, name)()
    if _state.forked_rc(rc):
        _state.warn_forked()
        return
    _state.check(native, rc, "ffitel_" + name)
    _state.refresh_threshold(native)


def init_console() -> None:
    """Phase 1: structured console logging only (any first call implies it)."""
    _init("init_console")


def init_telemetry() -> None:
    """Phase 2: upgrades logging in place to OTLP logs, traces and metrics.

    Configured from the environment as it was when the library loaded.
    Raises Error after shutdown. In a child forked after loading it warns
    once and keeps logging to stderr.

    When opentelemetry-api is installed and FFITEL_OTEL_API is not "off"
    (read now; default "auto"), also registers ffitel's providers as the
    OpenTelemetry API's (ffitel.opentelemetry.register).
    """
    _init("init_telemetry")
    _register_otel_api()


def _register_otel_api() -> None:
    mode = os.environ.get("FFITEL_OTEL_API", "auto").strip().lower()
    if mode in ("off", "false", "0", "no", "none"):
        return
    if mode not in ("", "auto", "on", "true", "1", "yes"):
        # One warning naming the variable and the value used, as for every
        # other variable.
        import warnings
        warnings.warn(f"ffitel: invalid FFITEL_OTEL_API={mode!r} (auto or off); using auto",
                      RuntimeWarning, stacklevel=3)
    try:
        from . import opentelemetry as bridge
    except ImportError as exc:
        if (getattr(exc, "name", None) or "").startswith("opentelemetry"):
            return  # the API is not installed: nothing to join
        raise
    bridge.register()


def shutdown(timeout: Optional[float] = None) -> bool:
    """Ends open spans, flushes and stops exporting, within timeout seconds.

    timeout=None (the default) is the library's bound, FFITEL_SHUTDOWN_TIMEOUT_MS
    (5000 unless set), for the whole shutdown. Returns False when the
    deadline cut the flush short (what was not sent is counted as dropped).
    Logging afterwards still reaches the console. Idempotent; does nothing if
    the library was never loaded. Registered with atexit.
    """
    return _state.bounded("shutdown", timeout)


def flush(timeout: Optional[float] = None) -> bool:
    """Writes queued console lines and exports what is queued, within timeout seconds.

    In phase 2 the console is formatted and written by a background thread
    within about a millisecond (errors at once); flush waits for it. Keeps
    running afterwards. timeout=None (the default) is FFITEL_SHUTDOWN_TIMEOUT_MS. Returns
    False when the deadline cut the export short. Does nothing if the library
    was never loaded or in a forked child.
    """
    return _state.bounded("flush", timeout)


def phase() -> str:
    """"none" (not loaded, or a forked child), "console", "telemetry" or "shutdown"."""
    native = _state.loaded()
    if native is None:
        return "none"
    rc = native.phase()
    if _state.forked_rc(rc):
        return "none"
    return _PHASES.get(rc, "none")


def version() -> str:
    """The library's version (loads it)."""
    native = _state.load()
    return native.version_string if native is not None else ""

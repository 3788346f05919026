"""The loaded library and what the package knows about it: the internal
interface every other module uses instead of loading or checking by itself.

The library is loaded on first use, never at import. A Go runtime does not
survive fork(): in a child forked after loading, ``lib`` is not used again,
logging falls back to the standard library on stderr (with one warning,
``warn_forked``) and spans, tasks and metrics become no-ops. A child forked
*before* loading loads its own copy and exports. With the spool on in the
parent (FFITEL_SPOOL_DIR, docs/SPOOL.md), a forked child keeps using the
library instead (``spool_child``): its logs, spans and tasks are written to
its own spool segment through C alone; metrics, stats and events stay
unavailable there.

The log path reads ``threshold``, ``log_fn`` and ``native_fn`` on every call;
they are plain module attributes so that read is cheap. Only this module
writes them.
"""

from __future__ import annotations

import atexit
import logging
import os
import sys
import threading
from typing import Callable, List, Optional

from . import _native
from ._native import E_FORKED, E_STATE

TRACE, DEBUG, INFO, WARN, ERROR, FATAL = 1, 5, 9, 13, 17, 21
PHASE_SHUTDOWN = 3  # ffitel_phase() after shutdown

lib: Optional[_native.Native] = None  # set once loaded; stays set in a forked child
forked = False  # loaded in a parent, and this is a forked child
# A forked child that writes through the spool (ffitel_spool_enabled): the
# library stays in use; calls that need Go answer E_FORKED, which is then a
# no-op for that call rather than a switch to the fallback.
spool_child = False
# ffitel_log (untyped where the platform allows) once loaded and usable
log_fn: Optional[Callable[..., int]] = None
# The library's own built-in log(severity, msg, attrs, span) (see
# _native.Native.log_native); None to use ffitel_log with JSON.
native_fn: Optional[Callable[..., int]] = None
# Severities below threshold are dropped without a call. 0 until the
# library is loaded (every call then takes the slow path, which loads it).
threshold = 0

# Called (no arguments) just before ffitel_flush and ffitel_shutdown, in
# order: ffitel.opentelemetry pushes its observable instruments' values here,
# since the library never calls into the host. Exceptions are swallowed.
before_collect: List[Callable[[], None]] = []

_load_pid = 0
_fork_warned = False
# Bad input this binding caught before it reached the library (an
# unprintable value, a None attribute, an oversized event payload): once the
# library is loaded it is counted there (ffitel_count_input_error), so it
# shows in stats() and /metrics/events alike; what was counted before the
# library was loaded (or in a forked child) is kept here, and stats() adds it.
_input_errors = 0
_input_errors_lock = threading.Lock()
_load_lock = threading.Lock()
_atexit_registered = False


def _after_fork_in_child() -> None:
    global _load_lock
    _load_lock = threading.Lock()  # another thread may have held it at fork time
    if lib is not None and not forked:
        _forked_now()


def _forked_now() -> None:
    """This is a child forked after loading: the spool's C path if the
    library can write it here, else the fallback."""
    global _fork_warned, spool_child, _load_pid
    native = lib
    try:
        on = native is not None and native.spool_enabled() == 1
    except Exception:  # an older library without ffitel_spool_enabled
        on = False
    if on:
        spool_child = True
        _load_pid = os.getpid()  # a grandchild is told apart from this process
        return
    enter_forked_mode()
    _fork_warned = False


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def load() -> Optional[_native.Native]:
    """The library, loading it on first use; None in a forked child.

    Raises Error when the library cannot be found or loaded.
    """
    global lib, _load_pid, log_fn, native_fn, _atexit_registered
    if forked:
        return None
    loaded_lib = lib
    if loaded_lib is not None:
        return loaded_lib
    with _load_lock:
        if lib is None:
            loaded_lib = _native.load()
            _load_pid = os.getpid()
            lib = loaded_lib
            if not _atexit_registered:
                _atexit_registered = True
                atexit.register(_shutdown_at_exit)
            _register_multiprocessing_finalizer()
            log_fn = loaded_lib.log_untyped or loaded_lib.log
            native_fn = loaded_lib.log_native
            refresh_threshold(loaded_lib)
    return lib


def library() -> Optional[_native.Native]:
    """The library for a call that needs it: loads it on first use; in a
    forked child warns once and returns None. Raises Error when it cannot be
    found or loaded."""
    check_fork()
    loaded_lib = load()
    if loaded_lib is None:
        warn_forked()
    return loaded_lib


def loaded() -> Optional[_native.Native]:
    """The library if it is loaded and usable here; never loads it."""
    return lib if not forked else None


def check_fork() -> None:
    """Catches a fork that skipped the at-fork hooks (a raw clone)."""
    if lib is not None and not forked and os.getpid() != _load_pid:
        _forked_now()


def enter_forked_mode() -> None:
    """Stops using the library in this process (a child forked after loading,
    or a spool child whose segment could not be written)."""
    global forked, log_fn, native_fn, threshold, spool_child
    forked = True
    spool_child = False
    log_fn = native_fn = None
    threshold = 0


def forked_rc(rc: int) -> bool:
    """True (after entering forked mode) when rc says this is a forked child.
    In a spool child the call was just unavailable here: nothing switches."""
    if rc == E_FORKED:
        if not spool_child:
            enter_forked_mode()
        return True
    return False


def check(native: _native.Native, rc: int, what: str) -> None:
    """Raises Error for a negative rc; in a forked child enters forked mode first."""
    if rc < 0:
        forked_rc(rc)
        raise native.error(rc, what)


def start_failure(native: _native.Native) -> Optional[str]:
    """Why a start call (span, task) returned handle 0: None when that is
    expected here (a forked child, warned once; after shutdown, where starts
    are no-ops), else the library's message for the calling thread."""
    message = native.error_message()  # before another call replaces it
    rc = native.phase()
    if forked_rc(rc):
        warn_forked()
        return None
    return None if rc == PHASE_SHUTDOWN else message


def refresh_threshold(native: _native.Native) -> None:
    """Caches the lowest enabled severity (LOG_LEVEL is read once by the library)."""
    global threshold
    lowest = 25
    for severity in (TRACE, DEBUG, INFO, WARN, ERROR, FATAL):
        rc = native.log_enabled(severity)
        if forked_rc(rc):
            return
        if rc == 1:
            lowest = severity
            break
    if lowest > TRACE:  # the level between two names, e.g. DEBUG2
        for severity in range(max(1, lowest - 3), lowest):
            if native.log_enabled(severity) == 1:
                lowest = severity
                break
    threshold = lowest


def count_input_error() -> None:
    """Counts one bad input the binding replaced or refused (never raises)."""
    global _input_errors
    if lib is not None and not forked:
        try:
            if lib.count_input_error() == 0:
                return
        except Exception:  # never raises: counted here instead
            pass
    with _input_errors_lock:
        _input_errors += 1


def input_errors() -> int:
    """Bad inputs counted by count_input_error in this process that the
    library has not counted (before it was loaded)."""
    return _input_errors


def placeholder(value: object, exc: BaseException) -> str:
    """What a value whose str() raised becomes: ``<unprintable Foo: ValueError>``."""
    return f"<unprintable {type(value).__name__}: {type(exc).__name__}>"


def text(value: object) -> str:
    """str(value), or its placeholder (counted) when str() raises. Never raises."""
    if type(value) is str:
        return value  # type: ignore[return-value]
    try:
        s = str(value)
        if type(s) is not str:  # a __str__ returning a str subclass
            s = str.__str__(s)
        return s
    except Exception as exc:
        count_input_error()
        return placeholder(value, exc)


def bounded(name: str, timeout: Optional[float]) -> bool:
    """Calls ffitel_shutdown or ffitel_flush with timeout in ms; False when cut short.

    timeout None passes -1: the library's bound, FFITEL_SHUTDOWN_TIMEOUT_MS."""
    check_fork()
    native = loaded()
    if native is None:
        return True
    if timeout is None or timeout != timeout:  # None (or NaN): the environment's bound
        ms = -1
    else:
        ms = max(0, min(int(min(float(timeout), 2.0**31) * 1000), 2**31 - 1))
    for hook in list(before_collect):
        try:
            hook()
        except Exception:  # pragma: no cover - a hook's failure is its own
            pass
    rc = getattr(native, name)(ms)  # ctypes releases the GIL while it waits
    if rc == E_STATE:
        return False
    if forked_rc(rc):
        return True
    check(native, rc, "ffitel_" + name)
    return True


def _shutdown_at_exit() -> None:
    try:
        bounded("shutdown", None)
    except Exception as exc:  # pragma: no cover - nothing to raise into at exit
        sys.stderr.write(f"ffitel: shutdown at exit: {exc}\n")


def _register_multiprocessing_finalizer() -> None:
    # multiprocessing children leave through os._exit, which skips atexit;
    # their own exit hook runs Finalize callbacks instead.
    mp_util = sys.modules.get("multiprocessing.util")
    if mp_util is not None:
        try:
            mp_util.Finalize(None, _shutdown_at_exit, exitpriority=100)
        except Exception:  # pragma: no cover - best effort
            pass


# --- fallback: stdlib logging where the library cannot serve --------------------

_fallback_logger: Optional[logging.Logger] = None


def fallback() -> logging.Logger:
    """The stderr logger used in a forked child or when the library cannot load."""
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


def warn_forked() -> None:
    """Says once per process that this forked child cannot use the library."""
    global _fork_warned
    if not _fork_warned and not spool_child:
        _fork_warned = True
        fallback().warning(
            "ffitel: libffitel was loaded before this process (pid %d) was forked; a Go "
            "runtime does not survive fork(), so this process logs to stderr through "
            "Python logging and its spans and metrics are no-ops. Load ffitel after "
            "forking: call ffitel.init_console()/init_telemetry() in each worker.",
            os.getpid())

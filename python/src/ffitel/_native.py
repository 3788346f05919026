"""Finding libffitel.so and describing its C ABI to ctypes.

Nothing here runs at import time: ``load()`` is called on first use, so a
pre-forking master can import ffitel and fork before any Go runtime exists.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sysconfig
from pathlib import Path
from typing import Any, Callable, Dict, Optional, Tuple

OK = 0
E_INVALID = -1
E_STATE = -2
E_FORKED = -3
E_HANDLE = -4
E_FULL = -5
E_INTERNAL = -6
E_UNAVAILABLE = -7
PY_USE_JSON = 1  # FFITEL_PY_USE_JSON: the native log function declined; use ffitel_log

_CODE_NAMES = {
    E_INVALID: "FFITEL_E_INVALID",
    E_STATE: "FFITEL_E_STATE",
    E_FORKED: "FFITEL_E_FORKED",
    E_HANDLE: "FFITEL_E_HANDLE",
    E_FULL: "FFITEL_E_FULL",
    E_INTERNAL: "FFITEL_E_INTERNAL",
    E_UNAVAILABLE: "FFITEL_E_UNAVAILABLE",
}

LIBRARY_NAME = "libffitel.so"


class Error(Exception):
    """An error reported by libffitel; ``code`` is the FFITEL_E_* value."""

    def __init__(self, message: str, code: int = E_INTERNAL) -> None:
        super().__init__(message)
        self.code = code


class ForkedError(Error):
    """The library was loaded before this process was forked from its parent."""


def code_name(code: int) -> str:
    return _CODE_NAMES.get(code, str(code))


def utf8(value: Any) -> bytes:
    """A string argument as the C ABI takes it (None as ""; lone surrogates kept)."""
    if type(value) is not str:
        value = "" if value is None else str(value)
    return value.encode("utf-8", "surrogatepass")


def untyped_handle(handle: int) -> Any:
    """A span handle as the untyped ffitel_log takes it (see Native.log_untyped)."""
    return handle if handle < 2**31 else ctypes.c_uint64(handle)


def library_path() -> str:
    """FFITEL_LIBRARY, else the copy installed with the package, else the build tree."""
    env = os.environ.get("FFITEL_LIBRARY")
    if env:
        if not os.path.exists(env):
            raise Error(f"FFITEL_LIBRARY={env!r} does not exist", E_INVALID)
        return env
    here = Path(__file__).resolve().parent
    installed = here / "lib" / LIBRARY_NAME
    if installed.exists():
        return str(installed)
    # src/ffitel -> src -> python -> repository root
    built = here.parents[2] / "build" / LIBRARY_NAME
    if built.exists():
        return str(built)
    raise Error(
        f"{LIBRARY_NAME} not found: set FFITEL_LIBRARY, install the package after "
        f"`make build`, or run `make build` (looked in {installed} and {built})",
        E_STATE,
    )


_c = ctypes
_SIGNATURES = {
    "ffitel_version": ((), _c.c_char_p),
    "ffitel_init_console": ((), _c.c_int),
    "ffitel_init_telemetry": ((), _c.c_int),
    "ffitel_shutdown": ((_c.c_int32,), _c.c_int),
    "ffitel_flush": ((_c.c_int32,), _c.c_int),
    "ffitel_phase": ((), _c.c_int),
    "ffitel_last_error": ((_c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_log": (
        (_c.c_int32, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_uint64),
        _c.c_int,
    ),
    "ffitel_log_enabled": ((_c.c_int32,), _c.c_int),
    "ffitel_span_start": (
        (_c.c_char_p, _c.c_size_t, _c.c_uint64, _c.c_char_p, _c.c_size_t,
         _c.c_char_p, _c.c_size_t, _c.c_int32),
        _c.c_uint64,
    ),
    "ffitel_span_set_attributes": ((_c.c_uint64, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_span_add_event": (
        (_c.c_uint64, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_span_end": ((_c.c_uint64, _c.c_int32, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_span_traceparent": ((_c.c_uint64, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_span_inject": ((_c.c_uint64, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_counter_add": (
        (_c.c_char_p, _c.c_size_t, _c.c_double, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_histogram_record": (
        (_c.c_char_p, _c.c_size_t, _c.c_double, _c.c_char_p, _c.c_size_t,
         _c.c_char_p, _c.c_size_t),
        _c.c_int,
    ),
    "ffitel_stats_json": ((_c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_count_input_error": ((), _c.c_int),
    "ffitel_task_start": (
        (_c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t,
         _c.c_int32, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_int32),
        _c.c_uint64,
    ),
    "ffitel_task_start_in": (
        (_c.c_uint64, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_char_p,
         _c.c_size_t, _c.c_int32, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t,
         _c.c_int32),
        _c.c_uint64,
    ),
    "ffitel_task_start_ex": (
        (_c.c_uint64, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t,
         _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_char_p,
         _c.c_size_t, _c.c_int32, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t,
         _c.c_int32),
        _c.c_uint64,
    ),
    "ffitel_task_end": ((_c.c_uint64, _c.c_int32, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_event_publish": (
        (_c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t,
         _c.c_int32, _c.c_char_p, _c.c_size_t),
        _c.c_int,
    ),
    "ffitel_event_publish_in": (
        (_c.c_uint64, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t,
         _c.c_int32, _c.c_char_p, _c.c_size_t),
        _c.c_int,
    ),
    "ffitel_event_subscribe": ((_c.c_char_p, _c.c_size_t), _c.c_uint64),
    # May wait: ctypes releases the GIL around it (see Native).
    "ffitel_event_poll": ((_c.c_uint64, _c.c_int32, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_event_unsubscribe": ((_c.c_uint64,), _c.c_int),
    # The OpenTelemetry API bridge (ffitel.opentelemetry).
    "ffitel_span_start_ex": (
        (_c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_uint64, _c.c_char_p,
         _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_int32, _c.c_int64, _c.c_char_p,
         _c.c_size_t, _c.c_char_p, _c.c_size_t),
        _c.c_uint64,
    ),
    "ffitel_span_end_ex": (
        (_c.c_uint64, _c.c_int32, _c.c_char_p, _c.c_size_t, _c.c_int64), _c.c_int),
    "ffitel_span_add_event_at": (
        (_c.c_uint64, _c.c_char_p, _c.c_size_t, _c.c_char_p, _c.c_size_t, _c.c_int64),
        _c.c_int),
    "ffitel_span_add_link": ((_c.c_uint64, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_span_update_name": ((_c.c_uint64, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_instrument_create": (
        (_c.c_char_p, _c.c_size_t, _c.c_int32, _c.c_char_p, _c.c_size_t, _c.c_char_p,
         _c.c_size_t, _c.c_char_p, _c.c_size_t),
        _c.c_uint64,
    ),
    "ffitel_instrument_record": (
        (_c.c_uint64, _c.c_double, _c.c_char_p, _c.c_size_t), _c.c_int),
    "ffitel_abi_version": ((), _c.c_int),
    "ffitel_spool_enabled": ((), _c.c_int),
    # May wait up to its timeout: ctypes releases the GIL around it.
    "ffitel_doctor_json": ((_c.c_int32, _c.c_char_p, _c.c_size_t), _c.c_int),
}


class Native:
    """The loaded library: one attribute per ffitel_* function, argtypes set.

    ctypes.CDLL releases the GIL around every call, so a call that waits
    (shutdown, event_poll) never stops other Python threads or signal handlers.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self.dll = ctypes.CDLL(path)
        check_abi(self.dll, path)  # before resolving anything else
        for name, (argtypes, restype) in _SIGNATURES.items():
            fn = getattr(self.dll, name)
            fn.argtypes = argtypes
            fn.restype = restype
            setattr(self, name[len("ffitel_"):], fn)
        # The hot path: ffitel_log without argtypes. ctypes' per-argument
        # from_param conversion costs ~1 us per call with argtypes set, more
        # than the call itself; untyped, Python ints travel as C int, which
        # libffi widens to the full register on x86-64 and arm64, so they
        # are only used for severities, lengths and handles below 2**31 (see
        # _logging.emit). Elsewhere the typed functions are used.
        self.log_untyped = None
        if platform.machine() in ("x86_64", "AMD64", "aarch64", "arm64"):
            raw = ctypes.CDLL(path).ffitel_log  # a separate function object
            raw.restype = ctypes.c_int
            self.log_untyped = raw
        # The fastest path: a built-in function made by the library itself
        # (ffitel_py_function) that reads the message and the keyword
        # arguments with CPython's C API, so a record costs no JSON encoding
        # and no ctypes conversion. None where the library cannot make it.
        self.log_native: Optional[Callable[[int, str, Optional[Dict[str, Any]], int], int]] = None
        # A free-threaded CPython (3.13t) has no GIL to keep the dict still
        # while C walks it: the JSON path serves it.
        free_threaded = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
        try:
            if free_threaded:
                raise ValueError("free-threaded CPython")
            make = ctypes.PyDLL(path).ffitel_py_function
            make.argtypes = ()
            make.restype = ctypes.py_object
            self.log_native = make()
        except Exception:  # ValueError for NULL: not a CPython this library understands
            self.log_native = None
        # The same for the OpenTelemetry API bridge's span start and end
        # (ffitel_py_span_function): span_start(...) -> (handle, traceparent)
        # or FFITEL_PY_USE_JSON, span_end(...) -> rc. None where unavailable.
        self.span_start_native: Optional[Callable[..., Any]] = None
        self.span_end_native: Optional[Callable[..., int]] = None
        if self.log_native is not None:
            try:
                make_span = ctypes.PyDLL(path).ffitel_py_span_function
                make_span.argtypes = (ctypes.c_int32,)
                make_span.restype = ctypes.py_object
                start_fn, end_fn = make_span(0), make_span(1)
                self.span_start_native, self.span_end_native = start_fn, end_fn
            except Exception:  # ValueError for NULL, or an older library
                pass
        v: Optional[bytes] = self.dll.ffitel_version()
        self.version_string = v.decode() if v else ""

    def fill(self, fn: Callable[..., int], args: Tuple[Any, ...], cap: int, *,
             retry: Optional[Tuple[Any, ...]] = None, grow: bool = True) -> Tuple[int, bytes]:
        """Calls fn(*args, buf, cap) under the buffer convention: the one place
        the package makes a buffer for the library.

        The call returns the length it needed; when that did not fit and grow
        is set, it is called again with a buffer that fits (with the arguments
        ``retry`` when given, say a poll that must not wait a second time).
        Returns (rc, the bytes written, at most cap - 1); rc < 0 is an error.
        """
        while True:
            buf = ctypes.create_string_buffer(cap)
            n = int(fn(*args, buf, cap))
            if n < cap or not grow:
                return n, buf.raw[:max(0, min(n, cap - 1))]
            cap = n + 1
            if retry is not None:
                args = retry

    def read_buffer(self, fn, *args, initial: int = 4096) -> str:  # type: ignore[no-untyped-def]
        """fn(*args, buf, cap) as text, retrying bigger; raises Error when it fails."""
        n, data = self.fill(fn, args, initial)
        if n < 0:
            raise self.error(n, fn.__name__)
        return data.decode("utf-8", "replace")

    def error_message(self) -> str:
        """The calling thread's last error (ffitel_last_error)."""
        _, data = self.fill(self.last_error, (), 1024, grow=False)
        return data.decode("utf-8", "replace")

    def error(self, code: int, what: str) -> Error:
        msg = self.error_message() or f"{what} failed"
        cls = ForkedError if code == E_FORKED else Error
        return cls(f"{msg} ({code_name(code)})", code)


def load() -> Native:
    return Native(library_path())


# The C ABI this binding speaks: FFITEL_ABI_VERSION of cshim/include/ffitel.h
# (cshim/copies_test.go checks the copy). It changes only with an
# incompatible change to an existing function.
ABI_VERSION = 1


def check_abi(dll: Any, path: str) -> None:
    """Raises Error, naming both ABI versions and the path, unless the library
    at path speaks this binding's ABI."""
    try:
        fn = dll.ffitel_abi_version
    except AttributeError:
        have = "none (it does not export ffitel_abi_version)"
    else:
        fn.argtypes = ()
        fn.restype = ctypes.c_int
        have = str(int(fn()))
        if have == str(ABI_VERSION):
            return
    try:
        ver_fn = dll.ffitel_version
        ver_fn.argtypes = ()
        ver_fn.restype = ctypes.c_char_p
        ver = (ver_fn() or b"?").decode("utf-8", "replace")
    except AttributeError:
        ver = "?"
    from . import __version__
    raise Error(
        f"{path} (libffitel {ver}) has C ABI version {have}, but this ffitel package "
        f"({__version__}) needs ABI version {ABI_VERSION}: install the library that came "
        f"with the package, or point FFITEL_LIBRARY at a matching libffitel.so",
        E_INVALID,
    )

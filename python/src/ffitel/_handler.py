"""A logging.Handler that sends stdlib (and third-party) records through ffitel."""

from __future__ import annotations

import logging
from itertools import islice
from typing import Any, Dict

from . import _state
from ._logging import emit, exception_attributes

# Everything a plain LogRecord carries; anything else came from `extra`.
_RESERVED = frozenset(
    logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).__dict__
) | {"message", "asctime", "taskName"}
_PLAIN_SIZE = len(logging.LogRecord("n", logging.INFO, "p", 1, "m", None, None).__dict__)
_SLACK = 4  # plain attributes a filter may have deleted before extras were added


def severity_of(levelno: int) -> int:
    """Maps a logging level to an OpenTelemetry severity number.

    DEBUG 10 -> 5, INFO 20 -> 9, WARNING 30 -> 13, ERROR 40 -> 17,
    CRITICAL 50 -> 21; levels in between land on the numbered variants
    (25 -> 11, INFO3) and below DEBUG on TRACE..TRACE4.
    """
    s = 1 + levelno * 4 // 10
    return 1 if s < 1 else (24 if s > 24 else s)


_SEVERITIES = {lv: severity_of(lv) for lv in (5, 10, 20, 30, 40, 50)}


class LoggingHandler(logging.Handler):
    """Sends logging records to ffitel: to the console in phase 1, OTLP in phase 2.

    The message is ``record.getMessage()``; with ``use_formatter=True`` it is
    the formatter's output instead (off by default because
    ``logging.basicConfig`` puts a "LEVEL:name:" formatter on every handler);
    ``extra`` fields become attributes, the logger name is
    kept as ``logger.name``, and ``exc_info`` becomes ``exception.type``,
    ``exception.message`` and ``exception.stacktrace``; ``include_code=True``
    adds ``code.filepath``, ``code.lineno`` and ``code.function``. Records carry the
    current span and fields. It never raises into the application and takes
    no lock: the library is safe from any thread.
    """

    def __init__(self, level: int = logging.NOTSET, *, include_code: bool = False,
                 use_formatter: bool = False) -> None:
        super().__init__(level)
        self.include_code = include_code
        self.use_formatter = use_formatter

    def handle(self, record: logging.LogRecord) -> Any:
        rv = self.filter(record) if self.filters else True
        if rv:
            if isinstance(rv, logging.LogRecord):  # Python 3.12 filters may replace it
                record = rv
            self.emit(record)
        return rv

    def emit(self, record: logging.LogRecord) -> None:
        levelno = record.levelno
        severity = _SEVERITIES.get(levelno) or severity_of(levelno)
        if severity < _state.threshold:
            return
        try:
            msg = self.format(record) if self.use_formatter else record.getMessage()
            attrs: Dict[str, Any] = {"logger.name": record.name}
            d = record.__dict__
            if len(d) > _PLAIN_SIZE:
                # LogRecord.__init__ sets the plain attributes first and
                # makeRecord adds `extra` after them, so the extras are at
                # the end (in insertion order); the few before them that a
                # filter may have removed are allowed for, and anything
                # reserved (message, asctime...) is still skipped.
                for key, value in islice(d.items(), _PLAIN_SIZE - _SLACK, None):
                    if key not in _RESERVED:
                        attrs[key] = value
            if self.include_code:
                attrs["code.filepath"] = record.pathname
                attrs["code.lineno"] = record.lineno
                attrs["code.function"] = record.funcName
            exc_info = record.exc_info
            if exc_info and exc_info[0] is not None:
                attrs.update(exception_attributes(*exc_info))
            if record.stack_info:
                attrs["code.stacktrace"] = record.stack_info
            emit(severity, msg, attrs)
        except RecursionError:  # pragma: no cover - as logging.StreamHandler does
            raise
        except Exception:
            self.handleError(record)


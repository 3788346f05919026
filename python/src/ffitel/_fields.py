"""The current fields: attributes carried by every log record and span started
inside ``with ffitel.fields(...)``, tracked with contextvars."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any, Dict, Optional, Tuple

from ._attrs import encode as _encode

# The current fields as (dict, the same encoded as JSON), or None.
Current = Optional[Tuple[Dict[str, Any], bytes]]
_var: ContextVar[Current] = ContextVar("ffitel.fields", default=None)
get = _var.get  # the current fields; read on every log call


class fields:  # noqa: N801 - used like a function: `with ffitel.fields(...)`
    """Attributes carried by every log record and span started inside.

    Nested scopes merge, the inner value winning. Tracked with contextvars,
    so each thread and asyncio task sees its own.
    """

    __slots__ = ("_attrs", "_token")

    def __init__(self, **attrs: Any) -> None:
        self._attrs = attrs
        self._token: Any = None

    def __enter__(self) -> Dict[str, Any]:
        outer = get()
        merged = {**outer[0], **self._attrs} if outer else dict(self._attrs)
        self._token = _var.set((merged, _encode(merged)) if merged else None)
        return dict(merged)

    def __exit__(self, *exc: Any) -> None:
        _var.reset(self._token)


def current_fields() -> Dict[str, Any]:
    """A copy of the current fields ({} outside any ``ffitel.fields``)."""
    f = get()
    return dict(f[0]) if f else {}


def merged(attrs: Optional[Dict[str, Any]]) -> Optional[bytes]:
    """The current fields under attrs (attrs winning) as JSON; None when both are empty."""
    f = get()
    if f:
        return _encode({**f[0], **attrs}) if attrs else f[1]
    return _encode(attrs) if attrs else None

"""Python tool handlers registered in this process, found before any ``custom_tools`` row."""

from __future__ import annotations

import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeAlias

from ..errors import InvalidInputError

#: A Python tool: takes the mapped inputs, returns a JSON-able value; may be ``async def``.
Handler: TypeAlias = Callable[[dict[str, Any]], Any | Awaitable[Any]]


class ToolRegistry:
    """Name -> handler. Shared by every client derived from one root client; safe across threads."""

    def __init__(self) -> None:
        self._handlers: dict[str, Handler] = {}
        self._lock = threading.Lock()

    def register(self, name: str, handler: Handler, *, replace: bool = False) -> None:
        """Register ``handler`` under ``name``; registering a taken name needs ``replace=True``."""
        if not name or not isinstance(name, str):
            raise InvalidInputError("a tool handler needs a non-empty name", field="name")
        if not callable(handler):
            raise InvalidInputError(f"the handler for {name!r} is not callable", field="handler")
        with self._lock:
            if name in self._handlers and not replace and self._handlers[name] is not handler:
                raise InvalidInputError(
                    f"a handler named {name!r} is already registered (pass replace=True)", field="name"
                )
            self._handlers[name] = handler

    def unregister(self, name: str) -> None:
        """Forget the handler named ``name`` (no error if there is none)."""
        with self._lock:
            self._handlers.pop(name, None)

    def get(self, name: str) -> Handler | None:
        """The handler named ``name``, or None."""
        return self._handlers.get(name)

    def names(self) -> frozenset[str]:
        """Every registered name."""
        return frozenset(self._handlers)

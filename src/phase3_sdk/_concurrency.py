"""Doing several things at once: asyncio tasks for the async client, threads for the blocking one.

Hand-written in both flavours side by side, outside ``_async``/``_sync``, because ``scripts/gen_sync.py``
turns ``AsyncTaskGroup`` into ``TaskGroup`` and ``AsyncEvent`` into ``Event`` in the generated code: the
synthesis worker is written once against these names and each flavour gets the primitive right for it.
Only what the worker needs: start concurrent work and wait for all of it, and an event to wait on with a
timeout (a heartbeat that must stop as soon as its job ends).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

__all__ = ["AsyncEvent", "AsyncTaskGroup", "Event", "TaskGroup"]


class AsyncTaskGroup:
    """Start coroutines as tasks; leaving the ``async with`` block waits for every one of them.

    If the block itself raises (or is cancelled) the tasks are cancelled first. If a task raises, the first
    such error is re-raised once all tasks have ended. Unlike :class:`asyncio.TaskGroup` it never wraps
    errors in an ``ExceptionGroup``, so callers catch the SDK's own exception classes.
    """

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[Any]] = []

    def start(self, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run ``fn(*args)`` concurrently."""

        async def call() -> Any:
            return await fn(*args)

        self._tasks.append(asyncio.ensure_future(call()))

    async def __aenter__(self) -> AsyncTaskGroup:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            for task in self._tasks:
                task.cancel()
        try:
            results = await asyncio.gather(*self._tasks, return_exceptions=True)
        except BaseException:
            # We were cancelled while waiting: take the tasks down with us, and wait for them to unwind.
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        if exc_type is None:
            for result in results:
                if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                    raise result


class TaskGroup:
    """Start callables in threads; leaving the ``with`` block joins every one of them.

    Threads cannot be cancelled, so the callables must watch a stop signal of their own. The first error a
    thread raised is re-raised once all threads have ended.
    """

    def __init__(self) -> None:
        self._threads: list[threading.Thread] = []
        self._errors: list[BaseException] = []

    def start(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` in a new thread."""

        def call() -> None:
            try:
                fn(*args)
            except BaseException as exc:
                self._errors.append(exc)

        # Daemon threads: a process told to exit is not held up by a lane stuck in a long database call.
        thread = threading.Thread(target=call, name=f"phase3-{getattr(fn, '__name__', 'task')}", daemon=True)
        self._threads.append(thread)
        thread.start()

    def __enter__(self) -> TaskGroup:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for thread in self._threads:
            thread.join()
        if exc_type is None and self._errors:
            raise self._errors[0]


class AsyncEvent:
    """An :class:`asyncio.Event` whose ``wait`` takes a timeout and says whether the event was set."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def set(self) -> None:
        """Set the event: wake every waiter."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the event is set."""
        return self._event.is_set()

    async def wait(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 (mirrors threading.Event)
        """Wait until the event is set or ``timeout`` seconds pass; True if it is set."""
        if timeout is None:
            await self._event.wait()
            return True
        try:
            await asyncio.wait_for(self._event.wait(), timeout)
        except TimeoutError:
            return self._event.is_set()
        return True


class Event:
    """A :class:`threading.Event` (same API as :class:`AsyncEvent`, blocking)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def set(self) -> None:
        """Set the event: wake every waiter."""
        self._event.set()

    def is_set(self) -> bool:
        """Whether the event is set."""
        return self._event.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the event is set or ``timeout`` seconds pass; True if it is set."""
        return self._event.wait(timeout)

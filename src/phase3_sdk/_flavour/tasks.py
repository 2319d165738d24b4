"""Doing several things at once: asyncio tasks for the async client, threads for the blocking one.

Only what the SDK needs: start concurrent work and wait for all of it (the synthesis worker's lanes), an
event to wait on with a timeout (a heartbeat that must stop as soon as its job ends), and a lease renewed
in the background while a body runs (a skill run).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any

__all__ = ["AsyncEvent", "AsyncLeaseKeeper", "AsyncTaskGroup", "Event", "LeaseKeeper", "TaskGroup"]


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


class Event(threading.Event):
    """A :class:`threading.Event`: already the API that :class:`AsyncEvent` gives asyncio code (``wait``
    takes a timeout and says whether the event was set)."""


class AsyncLeaseKeeper:
    """Renew a lease every ``interval`` seconds while the ``async with`` body runs.

    ``renew`` returns False when the lease is gone (someone else took it, or the run ended); then
    :attr:`lost` becomes True and renewing stops. A renewal that raises (a network blip) is retried at the
    next tick: the lease outlives several ticks, so one failure is harmless.
    """

    def __init__(self, renew: Callable[[], Coroutine[Any, Any, bool]], interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.lost = False

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                held = await self._renew()
            except Exception:
                continue
            if not held:
                self.lost = True
                return

    async def __aenter__(self) -> AsyncLeaseKeeper:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class LeaseKeeper:
    """The blocking twin of :class:`AsyncLeaseKeeper`: a daemon thread renews while the body runs."""

    def __init__(self, renew: Callable[[], bool], interval: float) -> None:
        self._renew = renew
        self._interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                held = self._renew()
            except Exception:
                continue
            if not held:
                self.lost = True
                return

    def __enter__(self) -> LeaseKeeper:
        self._thread = threading.Thread(target=self._loop, name="phase3-lease", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

"""The two places where the skill engine's asyncio and blocking flavours truly differ.

``phase3_sdk._async.engine`` is written once and turned into ``phase3_sdk._sync.engine`` by
``scripts/gen_sync.py``, which renames ``AsyncFoo`` to ``Foo``. Calling a Python handler under a timeout
and renewing a lease in the background cannot be written once for both (a task vs. a thread), so each
comes here as an ``Async*`` class and its blocking twin of the same name without the prefix.

Timeouts and Python handlers: an ``async def`` handler is really cancelled at its timeout. A plain
function cannot be stopped from outside in Python, so at its timeout the call is *reported* as a timeout
and the engine moves on, while the function finishes in its (daemon) worker thread and its result is
dropped. Without a timeout, the blocking flavour calls a plain handler inline (the cheapest path).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Awaitable, Callable, Coroutine
from types import TracebackType
from typing import Any

from .registry import Handler

__all__ = ["AsyncHandlerCaller", "AsyncLeaseKeeper", "HandlerCaller", "HandlerTimeout", "LeaseKeeper"]


class HandlerTimeout(Exception):
    """A Python handler did not finish within its time limit."""


def _is_async(fn: Handler) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


class AsyncHandlerCaller:
    """Call a handler from asyncio code without blocking the event loop."""

    @staticmethod
    async def call(handler: Handler, params: dict[str, Any], timeout: float | None) -> Any:  # noqa: ASYNC109
        """The handler's result; raises what it raises, or :class:`HandlerTimeout`."""
        try:
            if _is_async(handler):
                coro = handler(params)
                assert inspect.isawaitable(coro)
                return await (asyncio.wait_for(coro, timeout) if timeout is not None else coro)
            # A plain function may block (I/O, CPU): run it in a worker thread.
            work = asyncio.to_thread(handler, params)
            result = await (asyncio.wait_for(work, timeout) if timeout is not None else work)
            if inspect.isawaitable(result):  # e.g. functools.partial of an async function
                result = await (asyncio.wait_for(result, timeout) if timeout is not None else result)
            return result
        except TimeoutError:
            raise HandlerTimeout(f"time limit of {timeout:g} s exceeded") from None


def _run_coroutine(awaitable: Awaitable[Any], timeout: float | None) -> Any:
    """Run an awaitable to completion from blocking code (in a fresh event loop)."""

    async def main() -> Any:
        return await (asyncio.wait_for(awaitable, timeout) if timeout is not None else awaitable)

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    # Called from a thread that already runs a loop (the blocking client used inside async code):
    # asyncio.run() refuses, so give the coroutine a thread and a loop of its own.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(main())
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="phase3-handler", daemon=True)
    thread.start()
    thread.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class HandlerCaller:
    """Call a handler from blocking code."""

    @staticmethod
    def call(handler: Handler, params: dict[str, Any], timeout: float | None) -> Any:
        """The handler's result; raises what it raises, or :class:`HandlerTimeout`."""
        try:
            if timeout is None:
                result = handler(params)
                if inspect.isawaitable(result):
                    result = _run_coroutine(result, None)
                return result
            if _is_async(handler):
                coro = handler(params)
                assert inspect.isawaitable(coro)
                return _run_coroutine(coro, timeout)
            return _call_in_thread(handler, params, timeout)
        except TimeoutError:
            raise HandlerTimeout(f"time limit of {timeout:g} s exceeded") from None


def _call_in_thread(handler: Handler, params: dict[str, Any], timeout: float) -> Any:
    # A daemon thread rather than a ThreadPoolExecutor: the pool's exit hook joins its threads, so a
    # handler stuck for ever would also keep the interpreter from ever exiting.
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            result = handler(params)
            box["value"] = _run_coroutine(result, None) if inspect.isawaitable(result) else result
        except BaseException as exc:
            box["error"] = exc

    thread = threading.Thread(target=target, name="phase3-handler", daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError
    if "error" in box:
        raise box["error"]
    return box.get("value")


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

"""Calling a Python tool handler under a time limit, from asyncio code and from blocking code.

The skill engine (``_async/engine/tools.py``) is written once against ``AsyncHandlerCaller``; the generated
blocking engine gets ``HandlerCaller``. The two cannot be written once: a handler is awaited as a task
in one flavour and run in a thread (or a fresh event loop) in the other.

Timeouts and Python handlers: an ``async def`` handler is really cancelled at its timeout. A plain
function cannot be stopped from outside in Python, so at its timeout the call is *reported* as a timeout
and the engine moves on, while the function finishes in its (daemon) worker thread and its result is
dropped. Without a timeout, the blocking flavour calls a plain handler inline (the cheapest path).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
from collections.abc import Awaitable
from typing import Any

from ..engine.registry import Handler

__all__ = ["AsyncHandlerCaller", "HandlerCaller", "HandlerTimeout"]


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

"""Sleeping, locking, running blocking work and the deferred-call type, in both flavours."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

#: A lock held across ``await``s (async) or shared between threads (blocking).
AsyncLock = asyncio.Lock
Lock = threading.Lock

#: What a deferred call produces: a coroutine in asyncio code, the value itself in blocking code.
AsyncOutcome = Awaitable
Outcome = Annotated[T, "returned directly"]


async def async_sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    """Sleep the calling thread."""
    time.sleep(seconds)


async def async_run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run CPU-bound or blocking work (the JS sandbox, analyzers) in a worker thread, off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the work in this thread: blocking code has no event loop to protect."""
    return fn(*args, **kwargs)

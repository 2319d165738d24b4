"""The few primitives that differ between asyncio and blocking code (hand-written in both flavours)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

Lock = asyncio.Lock


async def sleep(seconds: float) -> None:
    """Sleep without blocking the event loop."""
    await asyncio.sleep(seconds)


async def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run CPU-bound or blocking work (the JS sandbox, analyzers) off the event loop."""
    return await asyncio.to_thread(fn, *args, **kwargs)


#: What a deferred call produces: a coroutine here, the value itself in blocking code.
Outcome = Awaitable

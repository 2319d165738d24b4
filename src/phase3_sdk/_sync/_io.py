"""The few primitives that differ between asyncio and blocking code (hand-written in both flavours)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Annotated, ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")

Lock = threading.Lock


def sleep(seconds: float) -> None:
    """Sleep the calling thread."""
    time.sleep(seconds)


def run_blocking(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run the work in this thread: blocking code has no event loop to protect."""
    return fn(*args, **kwargs)


#: What a deferred call produces: the value itself here, a coroutine in asyncio code.
Outcome = Annotated[T, "returned directly"]

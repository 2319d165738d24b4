"""HandlerCaller through both halves of ``phase3_sdk._flavour``: plain and async handlers, time limits."""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import pytest

from phase3_sdk._flavour import HandlerCaller, HandlerTimeout

from .halves import Half


def double(params: dict[str, Any]) -> int:
    return int(params["x"]) * 2


async def adouble(params: dict[str, Any]) -> int:
    await asyncio.sleep(0)
    return int(params["x"]) * 2


async def adouble_by(params: dict[str, Any], factor: int) -> int:
    return int(params["x"]) * factor


class Callable_:
    """An object whose ``__call__`` is a coroutine function: still an async handler."""

    async def __call__(self, params: dict[str, Any]) -> str:
        return f"called {params['x']}"


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_plain_and_async_handlers_return_their_result(half: Half, timeout: float | None) -> None:
    assert half.call(double, {"x": 2}, timeout) == 4
    assert half.call(adouble, {"x": 3}, timeout) == 6
    assert half.call(Callable_(), {"x": 1}, timeout) == "called 1"
    # A plain callable handing back an awaitable (a partial of an async function) is awaited too.
    assert half.call(functools.partial(adouble_by, factor=5), {"x": 2}, timeout) == 10


@pytest.mark.parametrize("timeout", [None, 5.0])
def test_handler_errors_come_through_as_they_are(half: Half, timeout: float | None) -> None:
    def broken(params: dict[str, Any]) -> None:
        raise LookupError("no such row")

    async def abroken(params: dict[str, Any]) -> None:
        raise PermissionError("denied")

    with pytest.raises(LookupError, match="no such row"):
        half.call(broken, {}, timeout)
    with pytest.raises(PermissionError, match="denied"):
        half.call(abroken, {}, timeout)


def test_a_plain_handler_past_its_limit_is_reported_as_a_timeout(half: Half) -> None:
    def slow(params: dict[str, Any]) -> None:
        time.sleep(0.2)  # cannot be stopped from outside: it finishes, its result is dropped

    with pytest.raises(HandlerTimeout, match=r"0\.02 s"):
        half.call(slow, {}, 0.02)


def test_an_async_handler_past_its_limit_is_cancelled(half: Half) -> None:
    seen: list[str] = []

    async def slow(params: dict[str, Any]) -> None:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    with pytest.raises(HandlerTimeout, match=r"0\.02 s"):
        half.call(slow, {}, 0.02)
    assert seen == ["cancelled"]


def test_blocking_caller_runs_an_async_handler_inside_a_running_loop() -> None:
    # The blocking client used from async code: asyncio.run() would refuse, so the caller gives the
    # coroutine a thread and a loop of its own.
    async def main() -> tuple[int, int]:
        return HandlerCaller.call(adouble, {"x": 4}, None), HandlerCaller.call(adouble, {"x": 5}, 5.0)

    assert asyncio.run(main()) == (8, 10)

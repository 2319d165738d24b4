"""run_blocking, Lock and sleep, through both halves of ``phase3_sdk._flavour``."""

from __future__ import annotations

import asyncio
import threading

from phase3_sdk import _flavour

from .halves import Half


def test_run_blocking_passes_arguments_and_returns_the_result(half: Half) -> None:
    value, _, _ = half.run_blocking(lambda a, *, b: (a, b), 1, b="two")
    assert value == (1, "two")


def test_run_blocking_runs_off_the_event_loop_only_where_there_is_one(half: Half) -> None:
    _, ran_in, caller = half.run_blocking(lambda: None)
    # asyncio: a worker thread, so the loop keeps running; blocking: this thread, nothing to protect.
    assert (ran_in != caller) is (half.name == "aio")


def test_async_run_blocking_leaves_the_loop_free_for_other_tasks() -> None:
    # The blocking work waits for an event that only another task on the loop sets: if run_blocking
    # held the loop, that task could never run and the wait would run out.
    released = threading.Event()

    async def main() -> bool:
        async def release() -> None:
            await _flavour.async_sleep(0.01)
            released.set()

        setter = asyncio.ensure_future(release())
        woke = await _flavour.async_run_blocking(released.wait, 5.0)
        await setter
        return woke

    assert asyncio.run(main()) is True


def test_lock_lets_one_holder_in_at_a_time(half: Half) -> None:
    assert half.contend(workers=4, hold=0.005) == 1


def test_async_sleep_yields_to_other_tasks() -> None:
    order: list[str] = []

    async def other() -> None:
        order.append("other")

    async def main() -> None:
        task = asyncio.ensure_future(other())
        await _flavour.async_sleep(0)
        order.append("after sleep")
        await task

    asyncio.run(main())
    assert order == ["other", "after sleep"]

"""The two halves of ``phase3_sdk._flavour`` behind one blocking test interface.

Each test describes a scenario once (jobs, a handler, a renew function) and runs it through both halves:
:class:`Aio` drives the asyncio twins inside ``asyncio.run``, :class:`Blocking` the blocking twins in
threads. What the halves do differently on purpose (tasks are cancelled, threads cannot be) is a flag
here, so the tests say so instead of splitting.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from phase3_sdk import _flavour as f

#: Longest any scenario waits for something that should happen at once: a bound against hanging, never a
#: measured time (no test asserts how long anything took).
PATIENCE = 5.0
#: How often a body polls for the condition it waits on.
POLL = 0.005


@dataclass
class Job:
    """A unit of concurrent work: log its start, sleep ``delay``, raise ``error`` or log its end."""

    name: str
    delay: float = 0.0
    error: BaseException | None = None


class Aio:
    """The asyncio half, each scenario in a fresh event loop."""

    name = "aio"
    cancels = True  # a task still running when the group's body fails is cancelled

    def group(self, jobs: list[Job], log: list[str], body_error: BaseException | None = None) -> None:
        async def work(job: Job) -> None:
            log.append(f"start {job.name}")
            try:
                await f.async_sleep(job.delay)
            except asyncio.CancelledError:
                log.append(f"cancelled {job.name}")
                raise
            if job.error is not None:
                raise job.error
            log.append(f"end {job.name}")

        async def main() -> None:
            async with f.AsyncTaskGroup() as group:
                for job in jobs:
                    group.start(work, job)
                if body_error is not None:
                    await f.async_sleep(0)  # let the jobs start
                    raise body_error

        asyncio.run(main())

    def wait(self, *, set_before: bool, set_after: float | None, timeout: float | None) -> tuple[bool, bool]:
        async def main() -> tuple[bool, bool]:
            event = f.AsyncEvent()
            if set_before:
                event.set()
            setter = None
            if set_after is not None:

                async def later() -> None:
                    await f.async_sleep(set_after)
                    event.set()

                setter = asyncio.ensure_future(later())
            woke = await event.wait(timeout)
            if setter is not None:
                await setter
            return woke, event.is_set()

        return asyncio.run(main())

    def keep(self, renew: Callable[[], bool], interval: float, until: Callable[[], bool]) -> bool:
        async def arenew() -> bool:
            return renew()

        async def main() -> bool:
            async with f.AsyncLeaseKeeper(arenew, interval) as keeper:
                for _ in range(int(PATIENCE / POLL)):
                    if until() or keeper.lost:
                        break
                    await f.async_sleep(POLL)
            return keeper.lost

        return asyncio.run(main())

    def call(self, handler: Any, params: dict[str, Any], timeout: float | None) -> Any:
        return asyncio.run(f.AsyncHandlerCaller.call(handler, params, timeout))

    def run_blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int, int]:
        """``fn``'s result, the thread it ran in and the thread that called it."""

        async def main() -> tuple[Any, int, int]:
            def traced() -> tuple[Any, int]:
                return fn(*args, **kwargs), threading.get_ident()

            value, ran_in = await f.async_run_blocking(traced)
            return value, ran_in, threading.get_ident()

        return asyncio.run(main())

    def contend(self, workers: int, hold: float) -> int:
        """Most workers seen inside the lock at once."""
        lock = f.AsyncLock()
        inside: list[int] = [0, 0]  # now, most

        async def worker() -> None:
            async with lock:
                inside[0] += 1
                inside[1] = max(inside)
                await f.async_sleep(hold)
                inside[0] -= 1

        async def main() -> None:
            async with f.AsyncTaskGroup() as group:
                for _ in range(workers):
                    group.start(worker)

        asyncio.run(main())
        return inside[1]


class Blocking:
    """The blocking half, in the test's own thread and the threads the twins start."""

    name = "blocking"
    cancels = False  # threads cannot be cancelled: they run to their end

    def group(self, jobs: list[Job], log: list[str], body_error: BaseException | None = None) -> None:
        def work(job: Job) -> None:
            log.append(f"start {job.name}")
            f.sleep(job.delay)
            if job.error is not None:
                raise job.error
            log.append(f"end {job.name}")

        with f.TaskGroup() as group:
            for job in jobs:
                group.start(work, job)
            if body_error is not None:
                raise body_error

    def wait(self, *, set_before: bool, set_after: float | None, timeout: float | None) -> tuple[bool, bool]:
        event = f.Event()
        if set_before:
            event.set()
        setter = threading.Timer(set_after, event.set) if set_after is not None else None
        if setter is not None:
            setter.start()
        woke = event.wait(timeout)
        if setter is not None:
            setter.join()
        return woke, event.is_set()

    def keep(self, renew: Callable[[], bool], interval: float, until: Callable[[], bool]) -> bool:
        with f.LeaseKeeper(renew, interval) as keeper:
            for _ in range(int(PATIENCE / POLL)):
                if until() or keeper.lost:
                    break
                f.sleep(POLL)
        return keeper.lost

    def call(self, handler: Any, params: dict[str, Any], timeout: float | None) -> Any:
        return f.HandlerCaller.call(handler, params, timeout)

    def run_blocking(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, int, int]:
        """``fn``'s result, the thread it ran in and the thread that called it."""

        def traced() -> tuple[Any, int]:
            return fn(*args, **kwargs), threading.get_ident()

        value, ran_in = f.run_blocking(traced)
        return value, ran_in, threading.get_ident()

    def contend(self, workers: int, hold: float) -> int:
        """Most workers seen inside the lock at once."""
        lock = f.Lock()
        inside: list[int] = [0, 0]

        def worker() -> None:
            with lock:
                inside[0] += 1
                inside[1] = max(inside)
                f.sleep(hold)
                inside[0] -= 1

        with f.TaskGroup() as group:
            for _ in range(workers):
                group.start(worker)
        return inside[1]


Half = Aio | Blocking
HALVES: list[Half] = [Aio(), Blocking()]

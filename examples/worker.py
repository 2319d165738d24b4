"""The memory-synthesis worker as its own process: claims due synthesis jobs and runs them.

    SUPABASE_DB_URL=postgresql://... python examples/worker.py             # until Ctrl-C / SIGTERM
    SUPABASE_DB_URL=postgresql://... python examples/worker.py --once      # drain due jobs, then exit

It needs a service-role client (a database URL, or SUPABASE_URL with the service key): it reads every
user's due jobs, and runs each one acting as that job's user, so a job only ever sees its user's
memories. Several workers may run at once (jobs are leased); a worker that dies leaves its jobs to
the others when their lease runs out. SIGTERM (a container stop) lets the running jobs finish first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Sequence

from phase3_sdk import AsyncPhase3Client


async def run(client: AsyncPhase3Client, *, concurrency: int, once: bool) -> int:
    """Run the worker on ``client`` until stopped (``once``: until no job is due); return jobs done."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or not the main thread
            loop.add_signal_handler(sig, stop.set)
    report = await client.service().synthesis_jobs.run_worker(
        concurrency=concurrency, once=once, stop_event=stop
    )
    print(
        f"worker {report.worker_id}: {len(report.completed)} jobs completed, {len(report.failed)} failed, "
        f"{report.memories_analyzed} memories analysed, {report.patterns_detected} patterns"
    )
    return len(report.completed)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--once", action="store_true", help="run the jobs due now, then exit")
    parser.add_argument("--concurrency", type=int, default=2, help="jobs run at the same time (default 2)")
    args = parser.parse_args(argv)

    async def go() -> None:
        async with AsyncPhase3Client.from_env() as client:
            await run(client, concurrency=args.concurrency, once=args.once)

    asyncio.run(go())


if __name__ == "__main__":
    main()

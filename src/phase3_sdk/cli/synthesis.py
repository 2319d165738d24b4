"""``phase3 synthesis worker``: run the synthesis worker until SIGINT/SIGTERM (``--once``: until idle)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from phase3_sdk.cli._options import db_url_from
from phase3_sdk.cli._registry import Subparsers
from phase3_sdk.errors import ConfigurationError
from phase3_sdk.synthesis import jobs as jobqueue

log = logging.getLogger("phase3_sdk.synthesis.worker")


def add_synthesis_commands(subparsers: Subparsers) -> None:
    """Register ``phase3 synthesis worker``."""
    group = subparsers.add_parser("synthesis", help="memory synthesis: run the job worker")
    commands = group.add_subparsers(dest="synthesis_command", metavar="COMMAND", required=True)
    p = commands.add_parser(
        "worker",
        help="claim and run synthesis jobs until stopped (SIGINT/SIGTERM let running jobs finish)",
    )
    p.add_argument("--db-url", metavar="URL", help="PostgreSQL URL (default: SUPABASE_DB_URL)")
    p.add_argument("--concurrency", type=int, default=2, metavar="N", help="jobs run at once (default: 2)")
    p.add_argument("--once", action="store_true", help="exit when no job is due instead of waiting for more")
    p.add_argument("--worker-id", metavar="ID", help="name in lease_owner (default: host:pid:random)")
    p.add_argument(
        "--lease-seconds",
        type=int,
        default=jobqueue.DEFAULT_LEASE_SECONDS,
        metavar="S",
        help=f"lease a job is held without a heartbeat (default: {jobqueue.DEFAULT_LEASE_SECONDS})",
    )
    p.add_argument(
        "--poll-interval",
        type=float,
        default=jobqueue.DEFAULT_POLL_INTERVAL,
        metavar="S",
        help=f"seconds between claims when idle (default: {jobqueue.DEFAULT_POLL_INTERVAL:g})",
    )
    p.add_argument("--quiet", action="store_true", help="log only warnings")
    p.set_defaults(handler=_worker)


def _worker(args: argparse.Namespace) -> int:
    if args.concurrency < 1:
        raise ConfigurationError(f"--concurrency must be at least 1, got {args.concurrency}")
    logging.basicConfig(
        level=logging.WARNING if args.quiet else logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(message)s",
    )
    report = asyncio.run(_serve(args, db_url_from(args)))
    print(
        f"worker {report.worker_id}: {len(report.completed)} completed, {len(report.retried)} retried, "
        f"{len(report.failed)} failed, {len(report.lost)} lost, {report.memories_analyzed} memories analysed"
    )
    return 0


async def _serve(args: argparse.Namespace, db_url: str) -> jobqueue.WorkerReport:
    from phase3_sdk._async.client import AsyncPhase3Client

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(signum: int) -> None:
        if stop.is_set():
            # A second signal: the user means it. Running jobs are abandoned; their leases expire and
            # another worker picks them up.
            raise KeyboardInterrupt
        log.warning("received %s: finishing running jobs, taking no new ones", signal.Signals(signum).name)
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_signal, signum)
    # One pool connection per lane and per heartbeat, plus one for claims.
    async with AsyncPhase3Client.connect(db_url, max_connections=2 * args.concurrency + 2) as client:
        return await client.synthesis_jobs.run_worker(
            concurrency=args.concurrency,
            once=args.once,
            worker_id=args.worker_id,
            lease_seconds=args.lease_seconds,
            poll_interval=args.poll_interval,
            stop_event=stop,
        )

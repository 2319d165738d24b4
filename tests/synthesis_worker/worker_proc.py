"""A synthesis worker in its own process, for the crash and race tests.

    python worker_proc.py --db-url URL --report FILE [--once] [--concurrency N] [--lease S] [--slow S]

``--slow S`` makes every job sleep S seconds inside its first analyzer (in the analysis thread, while the
heartbeat keeps the lease), so a test can kill the process mid-job. The report (JSON: job ids started,
completed, ...) is written when the worker returns; a killed worker writes none.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path

from phase3_sdk._async.client import AsyncPhase3Client
from phase3_sdk.synthesis import analyzers_for
from phase3_sdk.synthesis.analyzers.base import Analyzer
from phase3_sdk.synthesis.types import DetectedPattern, MemoryRecord, SynthesisType


class Slow:
    def __init__(self, inner: Analyzer, seconds: float) -> None:
        self.inner = inner
        self.seconds = seconds
        self.synthesis_type = inner.synthesis_type

    def analyze(self, memories: Sequence[MemoryRecord]) -> list[DetectedPattern]:
        time.sleep(self.seconds)
        return self.inner.analyze(memories)


async def main() -> tuple[str, dict[str, object]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--report", required=True)
    parser.add_argument("--once", action="store_true")
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--lease", type=int, default=2)
    parser.add_argument("--slow", type=float, default=0.0)
    parser.add_argument("--worker-id")
    args = parser.parse_args()

    def analyzers(kind: SynthesisType) -> list[Analyzer]:
        found = analyzers_for(kind)
        if args.slow:
            found[0] = Slow(found[0], args.slow)
        return found

    async with AsyncPhase3Client.connect(args.db_url, max_connections=2 * args.concurrency + 2) as admin:
        report = await admin.synthesis_jobs.run_worker(
            concurrency=args.concurrency,
            once=args.once,
            worker_id=args.worker_id,
            lease_seconds=args.lease,
            poll_interval=0.05,
            heartbeat_interval=0.3,
            analyzers=analyzers,
        )
    summary = {
        "worker_id": report.worker_id,
        "started": [str(i) for i in report.started],
        "completed": [str(i) for i in report.completed],
    }
    return args.report, summary


if __name__ == "__main__":
    path, summary = asyncio.run(main())
    Path(path).write_text(json.dumps(summary))

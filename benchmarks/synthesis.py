"""Synthesis worker throughput and claim latency on the embedded database, side by side in one run.

    .venv/bin/python benchmarks/synthesis.py
    .venv/bin/python benchmarks/synthesis.py --users 8 --memories 250 --jobs 64 --big 10000 --claims 500

* claim latency: ``claim_synthesis_jobs`` taking one job from a queue of ``--queue`` pending jobs, through the
  SDK (service role, one transaction with role + claims) and as raw SQL on one psycopg connection.
* throughput: ``--jobs`` ``full_synthesis`` jobs over ``--users`` users of ``--memories`` memories each,
  run by ``run_worker(concurrency=N, once=True)`` for N = 1, 2, 4 (N jobs at once in one asyncio worker; each
  job reads its user's memories as that user, analyses them in a thread, merges and completes).
* one ``full_synthesis`` job over ``--big`` memories, end to end (read + analyse + write).

Targets (issue 6): a claim under 2 ms; 10,000 memories analysed in under 10 s for full_synthesis.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from datetime import UTC, datetime
from pathlib import Path
from uuid import UUID

import psycopg

from phase3_sdk._async.client import AsyncPhase3Client
from phase3_sdk._async.synthesis import AsyncJobQueue
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.testing.seed import generate_history

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"
START = datetime(2024, 1, 1, tzinfo=UTC)


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def claim_latency(admin: AsyncPhase3Client, url: str, user: UUID, queue: int, claims: int) -> None:
    def fill() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "insert into public.memory_synthesis_jobs (user_id, synthesis_type) "
                "select %s, 'emotional_patterns' from generate_series(1, %s)",
                (user, queue),
            )

    def clear() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("delete from public.memory_synthesis_jobs")

    fill()
    jobs = AsyncJobQueue(admin._transport)
    sdk: list[float] = []
    for _ in range(claims):
        t = time.perf_counter()
        got = await jobs.claim("bench", 1, 60)
        sdk.append(time.perf_counter() - t)
        assert len(got) == 1
    clear()
    fill()
    raw: list[float] = []
    with psycopg.connect(url, autocommit=True) as conn:
        for _ in range(claims):
            t = time.perf_counter()
            rows = conn.execute("select * from public.claim_synthesis_jobs('raw', 1, 60)").fetchall()
            raw.append(time.perf_counter() - t)
            assert len(rows) == 1
    clear()
    print(f"\nclaim latency, one job from a queue of {queue:,} ({claims} claims each)")
    print(f"{'path':44s} {'p50 ms':>8s} {'p95 ms':>8s}")
    for name, values in (("SDK (service role transaction, pool)", sdk), ("raw SQL (one connection)", raw)):
        print(f"{name:44s} {pct(values, 50) * 1e3:>8.2f} {pct(values, 95) * 1e3:>8.2f}")


async def throughput(admin: AsyncPhase3Client, users: list[UUID], jobs: int, memories: int) -> None:
    print(f"\nthroughput: {jobs} full_synthesis jobs over {len(users)} users x {memories} memories")
    print(f"{'workers':>8s} {'seconds':>8s} {'jobs/s':>8s} {'memories/s':>11s} {'claim p50 ms':>13s}")
    for concurrency in (1, 2, 4):
        for i in range(jobs):
            await admin.as_user(user_id=users[i % len(users)]).synthesis_jobs.submit("full_synthesis")
        t = time.perf_counter()
        report = await admin.synthesis_jobs.run_worker(concurrency=concurrency, once=True)
        seconds = time.perf_counter() - t
        assert len(report.completed) == jobs, report
        print(
            f"{concurrency:>8d} {seconds:>8.2f} {jobs / seconds:>8.1f} "
            f"{report.memories_analyzed / seconds:>11,.0f} {pct(report.claim_seconds, 50) * 1e3:>13.2f}"
        )


async def big_job(admin: AsyncPhase3Client, user: UUID, memories: int) -> None:
    me = admin.as_user(user_id=user)
    job = await me.synthesis_jobs.submit("full_synthesis")
    t = time.perf_counter()
    report = await admin.synthesis_jobs.run_worker(concurrency=1, once=True)
    seconds = time.perf_counter() - t
    done = await me.synthesis_jobs.get(job.id)
    assert done.status == "completed", done
    assert done.memories_analyzed == memories, done
    print(f"\none full_synthesis job over {memories:,} memories, end to end (read + analyse + write)")
    print(f"{'seconds':>8s} {'memories/s':>11s} {'patterns':>9s} {'target':>8s}")
    verdict = "ok" if seconds < 10 else "MISSED"
    print(
        f"{seconds:>8.2f} {memories / seconds:>11,.0f} {done.patterns_detected:>9d} {'<10 s ' + verdict:>8s}"
    )
    assert report.completed == [job.id]


async def run(args: argparse.Namespace) -> None:
    with EmbeddedDatabase() as db:
        url = db.create_database("synthesis")
        apply_shim(url)
        migrator.migrate(url, MIGRATIONS)
        async with AsyncPhase3Client.connect(url, max_connections=12) as admin:
            users = [db.create_user(f"u{i}@example.test", database="synthesis") for i in range(args.users)]
            for i, user in enumerate(users):
                rows = generate_history(n=args.memories, seed=1000 + i, start=START, planted=i % 2 == 0)
                await admin.conversations.bulk_create(rows, user_id=user)
            await claim_latency(admin, url, users[0], args.queue, args.claims)
            await throughput(admin, users, args.jobs, args.memories)
            big = db.create_user("big@example.test", database="synthesis")
            t = time.perf_counter()
            await admin.conversations.bulk_create(
                generate_history(n=args.big, seed=7, start=START), user_id=big, batch_size=1000
            )
            print(f"\n(seeded {args.big:,} memories in {time.perf_counter() - t:.1f} s)")
            await big_job(admin, big, args.big)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=8)
    parser.add_argument("--memories", type=int, default=250, help="memories per user for the throughput run")
    parser.add_argument("--jobs", type=int, default=64)
    parser.add_argument("--queue", type=int, default=10_000, help="pending jobs behind the claims")
    parser.add_argument("--claims", type=int, default=500)
    parser.add_argument("--big", type=int, default=10_000)
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()

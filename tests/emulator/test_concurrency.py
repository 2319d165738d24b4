"""Requests through the emulator really run side by side, so claim and lease races can show up.

The emulator serves each request on a connection of its own from a pool (as PostgREST's db-pool does)
and an async client's requests in worker threads; one lock around the database, as before, would have
serialised every claim and hidden any race between workers.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from uuid import UUID

import jwt
import psycopg
import pytest
import respx

from phase3_sdk import AsyncPhase3Client
from phase3_sdk._async.synthesis import AsyncJobQueue
from support.postgrest_emulator import BASE_URL, PostgrestEmulator

SECRET = "concurrency-jwt-secret-of-at-least-32-chars"
ANON = jwt.encode({"role": "anon"}, SECRET, "HS256")
SERVICE = jwt.encode({"role": "service_role"}, SECRET, "HS256")
JOBS = 60
WORKERS = 8


@pytest.fixture(scope="module")
def emulator(db_url: str) -> Iterator[PostgrestEmulator]:
    emu = PostgrestEmulator(db_url, jwt_secret=SECRET, anon_key=ANON, service_key=SERVICE, pool_size=4)
    yield emu
    emu.close()


@pytest.fixture(scope="module")
def router(emulator: PostgrestEmulator) -> Iterator[respx.MockRouter]:
    with emulator.mount() as r:
        yield r


async def test_concurrent_workers_claim_every_job_exactly_once(
    emulator: PostgrestEmulator, router: respx.MockRouter, db_url: str, make_user: Callable[..., UUID]
) -> None:
    user = make_user()
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "insert into public.memory_synthesis_jobs (user_id, synthesis_type) "
            "select %s, 'full_synthesis' from generate_series(1, %s)",
            (user, JOBS),
        )
    emulator.max_in_flight = 0
    async with AsyncPhase3Client(BASE_URL, SERVICE, anon_key=ANON, jwt_secret=SECRET) as client:
        queue = AsyncJobQueue(client._transport)

        async def worker(name: str) -> list[UUID]:
            mine: list[UUID] = []
            while True:
                jobs = await queue.claim(name, limit=2, lease_seconds=60)
                if not jobs:
                    return mine
                mine += [job.id for job in jobs]

        claimed = await asyncio.gather(*(worker(f"w{i}") for i in range(WORKERS)))
    counts = Counter(job for jobs in claimed for job in jobs)
    assert len(counts) == JOBS
    assert max(counts.values()) == 1  # FOR UPDATE SKIP LOCKED: no job claimed twice
    assert emulator.max_in_flight >= 2  # the claims were in the database at the same time

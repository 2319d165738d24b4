"""Load: 20 users at once, 8 threads on the sync client and 200 asyncio tasks on the async one.

Each operation acts as one of 20 users, drawn at random: create a tool (a third of them public), list
tools, update one of its own tools, store a memory, full-text search its memories, run a skill (a
registered Python tool, checkpointed step by step), list its executions. For a bounded time
(``PHASE3_LOAD_SECONDS`` per flavour, default 6 s; CI's default run stays short) on the embedded
database. What a user relies on:

* zero errors of any kind;
* zero cross-user reads: every row a user reads is its own or public;
* no growth between the first and the second half of the run in the database connections the client
  holds (``pg_stat_activity``) or in the process's resident memory.

p50/p95/p99 per operation are written to the reliability results (``python -m tests.reliability.report``);
they are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import os
import random
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from phase3_sdk import AsyncPhase3Client, Phase3Client

from ._results import percentiles, record, rss_bytes

SECONDS = float(os.environ.get("PHASE3_LOAD_SECONDS", "6"))
USERS = 20
THREADS = 8
TASKS = 200
POOL = 8
#: Slack for memory between the two halves: allocator arenas and caches settle in steps; a leak of one
#: model per operation would pass this within seconds.
RSS_SLACK = 24 * 1024 * 1024
OPS = ("create_tool", "list_tools", "update_tool", "create_memory", "search", "execute_skill", "list_runs")
WEIGHTS = (3, 3, 2, 2, 2, 2, 1)
STEPS = [{"stepId": "echo", "toolName": "load_echo", "inputMapping": {"n": "$.input.n"}}]

if SECONDS > 20:
    pytestmark = pytest.mark.slow


def echo(params: dict[str, Any]) -> dict[str, Any]:
    return {"n": params["n"]}


class Tally:
    """Latencies, errors and cross-user reads, shared by every worker (a lock: threads append)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.latency: dict[str, list[float]] = defaultdict(list)
        self.errors: Counter[str] = Counter()
        self.foreign: list[str] = []
        self.rows_read = 0

    def done(self, op: str, seconds: float) -> None:
        with self.lock:
            self.latency[op].append(seconds)

    def failed(self, op: str, exc: BaseException) -> None:
        with self.lock:
            self.errors[f"{op}: {type(exc).__name__}: {exc}"[:300]] += 1

    def check(self, who: uuid.UUID, op: str, rows: list[Any]) -> None:
        """Every row must be the reader's own or public."""
        with self.lock:
            self.rows_read += len(rows)
            for row in rows:
                if row.user_id != who and getattr(row, "visibility", None) != "public":
                    kind = type(row).__name__
                    self.foreign.append(f"{op}: user {who} read {kind} {row.id} of {row.user_id}")


class Sampler(threading.Thread):
    """Samples the client's connections to the database and this process's RSS, every 100 ms."""

    def __init__(self, db_url: str, application_name: str) -> None:
        super().__init__(daemon=True)
        self.db_url, self.app = db_url, application_name
        self.samples: list[tuple[float, int, int]] = []  # (monotonic time, connections, rss)
        self.stop = threading.Event()

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.stop.wait(0.1):
                (count,) = conn.execute(
                    "select count(*) from pg_stat_activity where datname = current_database()"
                    " and pid <> pg_backend_pid() and backend_type = 'client backend'"
                ).fetchone() or (0,)
                self.samples.append((time.monotonic(), int(count), rss_bytes()))

    def halves(self, start: float, end: float) -> dict[str, int]:
        mid = (start + end) / 2
        first = [s for s in self.samples if start <= s[0] < mid]
        second = [s for s in self.samples if mid <= s[0] <= end]
        assert first, "the sampler saw nothing of the first half"
        assert second, "the sampler saw nothing of the second half"
        return {
            "connections_first_half_max": max(s[1] for s in first),
            "connections_second_half_max": max(s[1] for s in second),
            "rss_first_half_end": first[-1][2],
            "rss_second_half_end": second[-1][2],
        }


def setup_users(client: Any, make_user: Callable[[], uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """20 users, each with one skill and one tool; {user id: skill id}."""
    skills = {}
    for _ in range(USERS):
        uid = make_user()
        me = client.as_user(user_id=uid)
        skills[uid] = me.skills.create(name=f"load-{uuid.uuid4().hex[:8]}", steps=STEPS).id
        me.tools.create(name=f"seed-{uuid.uuid4().hex[:8]}", code="return 1;")
    return skills


def summarise(flavour: str, tally: Tally, window: dict[str, int], operations: int, seconds: float) -> None:
    record(
        f"load_{flavour}",
        {
            "flavour": flavour,
            "workers": THREADS if flavour == "sync" else TASKS,
            "users": USERS,
            "seconds": seconds,
            "operations": operations,
            "errors": sum(tally.errors.values()),
            "cross_user_reads": len(tally.foreign),
            "rows_read": tally.rows_read,
            "latency_ms": {op: percentiles(v) for op, v in sorted(tally.latency.items())},
            **window,
        },
    )


def assert_clean(tally: Tally, window: dict[str, int]) -> None:
    assert dict(tally.errors) == {}
    assert tally.foreign == []
    assert tally.rows_read > 0
    assert set(tally.latency) == set(OPS), "every kind of operation ran"
    # The pool is bounded: the second half holds no more connections than the first did.
    assert window["connections_second_half_max"] <= max(window["connections_first_half_max"], POOL)
    growth = window["rss_second_half_end"] - window["rss_first_half_end"]
    assert growth < RSS_SLACK, f"RSS grew {growth / 2**20:.1f} MiB in the second half"


def test_sync_client_under_8_threads_for_20_users(db_url: str, make_user: Any) -> None:
    tally = Tally()
    with Phase3Client.connect(db_url, min_connections=2, max_connections=POOL) as client:
        client.tools.register("load_echo", echo)
        skills = setup_users(client, make_user)
        users = {uid: client.as_user(user_id=uid) for uid in skills}
        own_tools: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        sampler = Sampler(db_url, "load")
        sampler.start()
        start = time.monotonic()
        deadline = start + SECONDS
        count = [0]

        def worker(seed: int) -> None:
            rng = random.Random(seed)
            n = 0
            while time.monotonic() < deadline:
                uid = rng.choice(list(users))
                me = users[uid]
                op = rng.choices(OPS, WEIGHTS)[0]
                began = time.perf_counter()
                try:
                    one_op(op, uid, me, skills[uid], own_tools, tally, rng)
                except Exception as exc:  # counted, then asserted to be none
                    tally.failed(op, exc)
                else:
                    tally.done(op, time.perf_counter() - began)
                n += 1
            with tally.lock:
                count[0] += n

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(THREADS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        end = time.monotonic()
        time.sleep(0.15)
        sampler.stop.set()
        sampler.join(5)
    window = sampler.halves(start, end)
    summarise("sync", tally, window, count[0], end - start)
    assert_clean(tally, window)


def one_op(
    op: str,
    uid: uuid.UUID,
    me: Phase3Client,
    skill_id: uuid.UUID,
    own_tools: dict[uuid.UUID, list[uuid.UUID]],
    tally: Tally,
    rng: random.Random,
) -> None:
    if op == "create_tool":
        visibility = "public" if rng.random() < 0.33 else "private"
        tool = me.tools.create(name=f"t-{uuid.uuid4().hex[:10]}", code="return 1;", visibility=visibility)
        with tally.lock:
            own_tools[uid].append(tool.id)
    elif op == "list_tools":
        tally.check(uid, op, me.tools.page(page_size=50).items)
    elif op == "update_tool":
        with tally.lock:
            mine = list(own_tools[uid])
        if mine:
            tally.check(uid, op, [me.tools.update(rng.choice(mine), description=f"d{rng.random()}")])
    elif op == "create_memory":
        words = " ".join(rng.choice(["deadline", "garden", "stress", "music", "family"]) for _ in range(6))
        tally.check(uid, op, [me.conversations.create(messages=[{"role": "user", "content": words}])])
    elif op == "search":
        tally.check(uid, op, me.search.text(rng.choice(["deadline", "garden", "music"]), match_count=10))
    elif op == "execute_skill":
        run = me.skills.execute(skill_id, {"n": rng.randint(0, 9)})
        assert run.status == "completed", run.error_message
        tally.check(uid, op, [run])
    else:
        tally.check(uid, op, me.skill_executions.page(page_size=20).items)


async def one_op_async(
    op: str,
    uid: uuid.UUID,
    me: AsyncPhase3Client,
    skill_id: uuid.UUID,
    own_tools: dict[uuid.UUID, list[uuid.UUID]],
    tally: Tally,
    rng: random.Random,
) -> None:
    if op == "create_tool":
        visibility = "public" if rng.random() < 0.33 else "private"
        name = f"t-{uuid.uuid4().hex[:10]}"
        tool = await me.tools.create(name=name, code="return 1;", visibility=visibility)
        own_tools[uid].append(tool.id)
    elif op == "list_tools":
        tally.check(uid, op, (await me.tools.page(page_size=50)).items)
    elif op == "update_tool":
        if own_tools[uid]:
            row = await me.tools.update(rng.choice(own_tools[uid]), description=f"d{rng.random()}")
            tally.check(uid, op, [row])
    elif op == "create_memory":
        words = " ".join(rng.choice(["deadline", "garden", "stress", "music", "family"]) for _ in range(6))
        tally.check(uid, op, [await me.conversations.create(messages=[{"role": "user", "content": words}])])
    elif op == "search":
        hits = await me.search.text(rng.choice(["deadline", "garden", "music"]), match_count=10)
        tally.check(uid, op, hits)
    elif op == "execute_skill":
        run = await me.skills.execute(skill_id, {"n": rng.randint(0, 9)})
        assert run.status == "completed", run.error_message
        tally.check(uid, op, [run])
    else:
        tally.check(uid, op, (await me.skill_executions.page(page_size=20)).items)


async def test_async_client_under_200_tasks_for_20_users(db_url: str, make_user: Any) -> None:
    tally = Tally()
    client = AsyncPhase3Client.connect(db_url, min_connections=2, max_connections=POOL)
    try:
        client.tools.register("load_echo", echo)
        skills: dict[uuid.UUID, uuid.UUID] = {}
        for _ in range(USERS):
            uid = make_user()
            me = client.as_user(user_id=uid)
            skills[uid] = (await me.skills.create(name=f"load-{uuid.uuid4().hex[:8]}", steps=STEPS)).id
            await me.tools.create(name=f"seed-{uuid.uuid4().hex[:8]}", code="return 1;")
        users = {uid: client.as_user(user_id=uid) for uid in skills}
        own_tools: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
        sampler = Sampler(db_url, "load")
        sampler.start()
        start = time.monotonic()
        deadline = start + SECONDS
        count = [0]

        async def worker(seed: int) -> None:
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                uid = rng.choice(list(users))
                op = rng.choices(OPS, WEIGHTS)[0]
                began = time.perf_counter()
                try:
                    await one_op_async(op, uid, users[uid], skills[uid], own_tools, tally, rng)
                except Exception as exc:  # counted, then asserted to be none
                    tally.failed(op, exc)
                else:
                    tally.done(op, time.perf_counter() - began)
                count[0] += 1

        await asyncio.gather(*(worker(1000 + i) for i in range(TASKS)))
        end = time.monotonic()
        await asyncio.sleep(0.15)
        sampler.stop.set()
        sampler.join(5)
    finally:
        await client.aclose()
    window = sampler.halves(start, end)
    summarise("async", tally, window, count[0], end - start)
    assert_clean(tally, window)

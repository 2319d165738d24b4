"""Faults on the Postgres path: connections killed under a mixed workload lose and duplicate nothing.

A killer thread runs ``pg_terminate_backend`` on every other session of the database every few
milliseconds while a user's client creates, updates, deletes and lists rows. Afterwards the database
holds exactly what a fault-free run would: every create once, every update applied, every delete gone.
Any error that reaches the caller must be typed (a ``Phase3Error``); the test counts them and the
operations they belong to are left out of the comparison only if the error says the outcome is unknown
(a ``TransientError`` after the retries ran out).
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from phase3_sdk import Phase3Client, RetryPolicy
from phase3_sdk.errors import Phase3Error, TransientError

OPERATIONS = 400
# Connections the killer must have cut for the run to test anything. A fast machine finishes OPERATIONS
# in a few kill rounds, so the workload goes on (up to MAX_OPERATIONS) until the killer has cut this many.
MIN_KILLED = 20
MAX_OPERATIONS = 5 * OPERATIONS
KILL_EVERY = 0.06  # seconds between two rounds of pg_terminate_backend
PATIENT = RetryPolicy(max_attempts=8, initial_delay=0.01, max_delay=0.2, max_total=20.0, jitter=True)


class Killer(threading.Thread):
    """Terminates every other backend of the database, round after round, until stopped."""

    def __init__(self, db_url: str) -> None:
        super().__init__(daemon=True)
        self.db_url = db_url
        self.stop = threading.Event()
        self.killed = 0

    def run(self) -> None:
        with psycopg.connect(self.db_url, autocommit=True) as conn:
            while not self.stop.wait(KILL_EVERY):
                rows = conn.execute(
                    "select pg_terminate_backend(pid) from pg_stat_activity"
                    " where datname = current_database() and pid <> pg_backend_pid()"
                    " and backend_type = 'client backend'"
                ).fetchall()
                self.killed += sum(1 for (ok,) in rows if ok)


def workload(
    me: Phase3Client, rng: random.Random, enough: Callable[[], bool]
) -> tuple[dict[uuid.UUID, str | None], Counter[str], int]:
    """Run the mixed workload, at least OPERATIONS operations and then until ``enough()`` (at most
    MAX_OPERATIONS); return {tool id: expected description, None if deleted}, error counts and how many
    operations ran."""
    expected: dict[uuid.UUID, str | None] = {}
    unknown: set[uuid.UUID] = set()
    errors: Counter[str] = Counter()
    i = 0
    while i < OPERATIONS or (i < MAX_OPERATIONS and not enough()):
        i += 1
        live = [tid for tid, desc in expected.items() if desc is not None and tid not in unknown]
        kind = rng.choice(["create", "create", "update", "delete", "list"]) if live else "create"
        target = rng.choice(live) if live else None
        try:
            if kind == "create":
                name = f"t{i}-{uuid.uuid4().hex[:6]}"
                tool = me.tools.create(name=name, code="return 1;", description="v0")
                expected[tool.id] = "v0"
            elif kind == "update" and target is not None:
                me.tools.update(target, description=f"v{i}")
                expected[target] = f"v{i}"
            elif kind == "delete" and target is not None:
                me.tools.delete(target)
                expected[target] = None
            else:
                me.tools.page(page_size=20)
        except TransientError:
            errors[f"{kind}: {TransientError.__name__}"] += 1
            if target is not None:
                unknown.add(target)
        except Phase3Error as exc:
            errors[f"{kind}: {type(exc).__name__}: {exc}"] += 1
    for tid in unknown:
        expected.pop(tid, None)
    return expected, errors, i


@pytest.mark.slow
def test_killed_connections_lose_and_duplicate_nothing(db_url: str, make_user: Any) -> None:
    rng = random.Random(7)
    with Phase3Client.connect(db_url, retry=PATIENT, min_connections=2, max_connections=4) as client:
        me = client.as_user(user_id=make_user())
        killer = Killer(db_url)
        killer.start()
        try:
            expected, errors, operations = workload(me, rng, lambda: killer.killed >= MIN_KILLED)
        finally:
            killer.stop.set()
            killer.join(10)
        assert killer.killed >= MIN_KILLED, "the killer should have cut connections under the workload"

        tools = list(me.tools.list())
        rows = {t.id: t.description for t in tools}
    # No error but a transient one (outcome unknown after retries) may reach the caller.
    assert [e for e in errors if "TransientError" not in e] == []
    assert sum(errors.values()) <= operations // 20, errors
    for tool_id, description in expected.items():
        assert rows.get(tool_id) == description, f"tool {tool_id}: expected {description!r}"
    # Every create used a unique name: a create retried into a second row would show its name twice.
    assert [name for name, n in Counter(t.name for t in tools).items() if n > 1] == []
    assert len(rows) == sum(1 for d in expected.values() if d is not None) + len(
        [t for t in tools if t.id not in expected]
    )

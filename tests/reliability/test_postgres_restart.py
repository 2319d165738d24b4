"""Faults on the Postgres path: the server stopped and restarted mid-workload, and statement timeouts.

A server of this test's own (the session's is shared by every module) runs a user's mixed workload of
creates, updates, deletes and lists in a thread; meanwhile the server is stopped (a fast shutdown: every
session is terminated) and started again on the same data. The client must ride through it: every
operation that returned is in the database as told, nothing is duplicated, and anything that reached the
caller is a typed ``Phase3Error`` (only a ``TransientError``, whose outcome is then unknown).

Statement timeouts: a query that outlasts ``statement_timeout_ms`` fails typed (``TransientError``,
code 57014, nothing committed); an update blocked by another session's lock for longer than the timeout
is retried and applied once when the lock goes.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import psycopg
import pytest

from phase3_sdk import Phase3Client, Phase3Error, RetryPolicy, TransientError
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim, create_auth_user

from ._results import record

MIGRATIONS = Path(__file__).resolve().parents[2] / "supabase" / "migrations"
#: Patient enough to wait out a restart (a few seconds on a loaded machine).
PATIENT = RetryPolicy(max_attempts=40, initial_delay=0.05, max_delay=0.5, max_total=60.0, jitter=True)


@pytest.fixture(scope="module")
def own_server(tmp_path_factory: pytest.TempPathFactory) -> Any:
    db = EmbeddedDatabase(tmp_path_factory.mktemp("restart") / "pgdata")
    db.start()
    url = db.create_database("restart")
    apply_shim(url)
    migrator.migrate(url, MIGRATIONS)
    yield db, url
    db.stop()


def test_server_restart_mid_workload_loses_and_duplicates_nothing(own_server: Any) -> None:
    server, url = own_server
    uid = create_auth_user(url, f"r-{uuid.uuid4().hex[:8]}@example.test", None)
    expected: dict[uuid.UUID, str | None] = {}
    unknown: set[uuid.UUID] = set()
    errors: Counter[str] = Counter()
    untyped: list[str] = []
    done = threading.Event()
    progress = [0]
    rng = random.Random(3)

    def workload(me: Phase3Client) -> None:
        i = 0
        while not done.is_set() or i < 60:
            i += 1
            live = [t for t, d in expected.items() if d is not None and t not in unknown]
            kind = rng.choice(["create", "create", "update", "delete", "list"]) if live else "create"
            target = rng.choice(live) if live else None
            try:
                if kind == "create":
                    tool = me.tools.create(
                        name=f"r{i}-{uuid.uuid4().hex[:6]}", code="return 1;", description="v0"
                    )
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
                errors[f"{kind}: TransientError"] += 1
                if target is not None:
                    unknown.add(target)
            except Phase3Error as exc:
                errors[f"{kind}: {type(exc).__name__}: {exc}"] += 1
            except Exception as exc:  # an untyped error is a failure of the SDK, reported below
                untyped.append(f"{kind}: {type(exc).__name__}: {exc}")
            progress[0] = i
            if i > 2000:
                break

    with Phase3Client.connect(
        url, retry=PATIENT, min_connections=1, max_connections=3, connect_timeout=3
    ) as client:
        me = client.as_user(user_id=uid)
        worker = threading.Thread(target=workload, args=(me,))
        worker.start()
        while progress[0] < 40:
            time.sleep(0.01)
        at_stop = progress[0]
        began = time.monotonic()
        server.stop()
        time.sleep(1.0)
        server.start()
        outage = time.monotonic() - began
        at_restart = progress[0]
        done.set()
        worker.join(120)
        assert not worker.is_alive()
        with psycopg.connect(url) as db:
            rows = dict(
                db.execute("select id, description from custom_tools where user_id = %s", (uid,)).fetchall()
            )
            names = Counter(
                r[0]
                for r in db.execute("select name from custom_tools where user_id = %s", (uid,)).fetchall()
            )
    for tid in unknown:
        expected.pop(tid, None)
    lost = [t for t, d in expected.items() if rows.get(t) != d]
    record(
        "postgres_restart",
        {
            "operations": progress[0],
            "operations_before_stop": at_stop,
            "operations_finished_during_outage": at_restart - at_stop,
            "outage_seconds": outage,
            "errors": dict(errors),
            "untyped": untyped,
            "lost_writes": len(lost),
            "duplicates": sum(1 for c in names.values() if c > 1),
        },
    )
    assert untyped == []
    assert progress[0] > at_restart, "the workload went on after the restart"
    assert [e for e in errors if "TransientError" not in e] == []
    assert lost == []
    assert [n for n, c in names.items() if c > 1] == []


def test_statement_timeouts_fail_typed_and_a_blocked_write_lands_once(own_server: Any) -> None:
    _, url = own_server
    uid = create_auth_user(url, f"t-{uuid.uuid4().hex[:8]}@example.test", None)
    with psycopg.connect(url, autocommit=True) as db:
        db.execute(
            "create or replace function public.slow_echo(seconds double precision) returns double precision"
            " language sql as $$ select pg_sleep(seconds); select seconds $$"
        )
        db.execute("grant execute on function public.slow_echo(double precision) to authenticated")
    quick = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.05, jitter=False)
    with Phase3Client.connect(url, retry=quick, statement_timeout_ms=200, max_connections=2) as client:
        me = client.as_user(user_id=uid)
        with pytest.raises(TransientError) as caught:
            me.rpc("slow_echo", {"seconds": 2.0}, returns="scalar")
        assert caught.value.code == "57014"
        assert me.rpc("slow_echo", {"seconds": 0.0}, returns="scalar") == 0.0

        tool = me.tools.create(name=f"lock-{uuid.uuid4().hex[:6]}", code="return 1;", description="v0")
        patient = me.with_retry(PATIENT)
        with psycopg.connect(url) as holder:
            holder.execute("select 1 from custom_tools where id = %s for update", (tool.id,))
            release = threading.Timer(1.0, holder.commit)
            release.start()
            updated = patient.tools.update(tool.id, description="v1")
            release.join()
        assert updated.description == "v1"
        assert me.tools.get(tool.id).description == "v1"
        assert me.tools.count() == 1

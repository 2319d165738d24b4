"""The Postgres backend sends a one-statement call (select, count, update, delete, RPC) as one round trip:
the caller's identity and the statement together, one implicit transaction up to the pipeline's Sync. A
statement that fails must still leave its pooled connection clean for the next caller."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

import pytest
from psycopg.pq import TransactionStatus

from phase3_sdk import Phase3Client
from phase3_sdk.errors import ConflictError, NotFoundError

MakeUser = Callable[..., uuid.UUID]

#: How many failed statements one test run makes (see the test for why more than one).
FAILURES = 30


def test_a_failed_statement_leaves_its_connection_clean(
    db_url: str, make_user: MakeUser, caplog: pytest.LogCaptureFixture
) -> None:
    with Phase3Client.connect(db_url, min_connections=1, max_connections=1) as root:
        me = root.as_user(user_id=make_user())
        first = me.tools.create(name="first", code="return 1;")
        me.tools.create(name="second", code="return 2;")
        pool = root._shared.backend._pool  # type: ignore[attr-defined]
        # Whether the failed statement's answer arrives while the pipeline's Sync is still being sent is a
        # matter of packet timing (about one call in three here): repeating the failure makes the test meet
        # both orders every run rather than by chance.
        for _ in range(FAILURES):
            with caplog.at_level(logging.WARNING), pytest.raises(ConflictError):
                me.tools.update(first.id, name="second")  # unique (user_id, name): fails in the database
            # The one connection serves the next calls: the aborted transaction was rolled back, not left
            # open for the pool to find (which it would log), and nothing of the failed update was kept.
            assert me.tools.get(first.id).name == "first"
            assert me.tools.count() == 2
            with pool.connection() as conn:
                assert conn.info.transaction_status == TransactionStatus.IDLE
        assert not [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")]


def test_the_identity_of_one_call_does_not_outlive_it(db_url: str, make_user: MakeUser) -> None:
    """Role and claims are transaction-local: the next call on the same connection starts from scratch."""
    with Phase3Client.connect(db_url, min_connections=1, max_connections=1) as root:
        alice = root.as_user(user_id=make_user())
        tool = alice.tools.create(name="mine", code="return 1;")
        assert alice.tools.count() == 1
        pool = root._shared.backend._pool  # type: ignore[attr-defined]
        with pool.connection() as conn:
            row = conn.execute(
                "select current_user, current_setting('request.jwt.claims', true) as claims"
            ).fetchone()
            assert row is not None
            assert row["current_user"] == "postgres"
            assert row["claims"] in (None, "")
        bob = root.as_user(user_id=make_user())
        with pytest.raises(NotFoundError):  # RLS hides alice's row from bob: nothing of hers to delete
            bob.tools.delete(tool.id)
        assert alice.tools.get(tool.id).id == tool.id

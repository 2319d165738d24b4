"""Retries: REST through the emulator's scripted faults, Postgres with a connection killed under the pool."""

from __future__ import annotations

import logging
import time
import uuid

import psycopg
import pytest
import respx

from phase3_sdk import InvalidInputError, Phase3Client, RateLimitError, RetryPolicy, TransientError
from phase3_sdk.backends.base import Rpc
from support.backends import ANON_KEY, FAST_RETRY, JWT_SECRET, SERVICE_KEY, rest_client


@pytest.fixture
def me(router: respx.MockRouter, make_user: object) -> Phase3Client:
    router.calls.clear()
    return rest_client().as_user(user_id=make_user())  # type: ignore[operator]


def _calls(router: respx.MockRouter, method: str | None = None) -> int:
    return sum(1 for c in router.calls if method is None or c.request.method == method)


def test_503_then_200_succeeds_after_one_retry(
    me: Phase3Client, emulator, router: respx.MockRouter, caplog
) -> None:
    emulator.fail_next(1, status=503)
    with caplog.at_level(logging.INFO, logger="phase3_sdk.retry"):
        assert me.tools.count() == 0
    assert _calls(router) == 2
    assert "TransientError" in caplog.text
    assert "PGRST001" in caplog.text  # a 503's code (PGRST003 is a 504: Error.hs)
    # Never a key or a token in the retry log line.
    assert ANON_KEY not in caplog.text
    assert SERVICE_KEY not in caplog.text
    assert me.identity.access_token not in caplog.text


def test_429_with_retry_after_waits_about_that_long(
    me: Phase3Client, emulator, router: respx.MockRouter
) -> None:
    emulator.rate_limit_next(retry_after="1")
    started = time.monotonic()
    assert list(me.tools.list()) == []
    elapsed = time.monotonic() - started
    assert elapsed >= 0.9
    assert elapsed < 5
    assert _calls(router) == 2


def test_429_gives_rate_limited_with_retry_after_when_attempts_run_out(me: Phase3Client, emulator) -> None:
    emulator.rate_limit_next(retry_after="7", n=1)
    with pytest.raises(RateLimitError) as err:
        me.with_retry(RetryPolicy.none()).tools.count()
    assert err.value.retry_after == 7
    assert err.value.status == 429


def test_connection_reset_during_insert_leaves_exactly_one_row(
    me: Phase3Client, emulator, router: respx.MockRouter, db_url: str
) -> None:
    emulator.drop_after_commit("POST")
    tool = me.tools.create(name=f"once-{uuid.uuid4().hex[:6]}", code="return 1;")
    # First POST committed then the connection dropped; the retried POST inserted nothing (same id) and
    # the row was read back.
    assert _calls(router, "POST") == 2
    with psycopg.connect(db_url) as conn:
        (n,) = conn.execute("select count(*) from custom_tools where name = %s", (tool.name,)).fetchone()  # type: ignore[misc]
    assert n == 1
    assert me.tools.get(tool.id) == tool


def test_connection_refused_is_retried(me: Phase3Client, emulator, router: respx.MockRouter) -> None:
    emulator.refuse_next(2)
    assert me.tools.count() == 0
    assert _calls(router) == 3


def test_a_400_is_never_retried(me: Phase3Client, emulator, router: respx.MockRouter) -> None:
    emulator.fail_next(
        1,
        status=400,
        body=b'{"code":"22P02","details":null,"hint":null,"message":"invalid input syntax for type uuid"}',
    )
    with pytest.raises(InvalidInputError) as err:
        me.tools.count()
    assert err.value.code == "22P02"
    assert _calls(router) == 1


def test_retries_off_makes_one_attempt(me: Phase3Client, emulator, router: respx.MockRouter) -> None:
    emulator.fail_next(1, status=503, headers={"Retry-After": "3"})
    with pytest.raises(TransientError) as err:
        me.with_retry(RetryPolicy.none()).tools.count()
    assert err.value.retry_after == 3
    assert _calls(router) == 1
    assert me.tools.count() == 0  # the fault was used up; the server is fine


def test_attempts_are_capped(me: Phase3Client, emulator, router: respx.MockRouter) -> None:
    emulator.fail_next(5, status=502, body=b"<html><body>Bad Gateway</body></html>")
    with pytest.raises(TransientError) as err:
        me.tools.count()
    assert _calls(router) == FAST_RETRY.max_attempts
    assert "HTTP 502" in str(err.value)  # a non-JSON body still gives one readable line
    emulator.faults.clear()


def test_non_idempotent_rpc_is_not_retried(me: Phase3Client, emulator, router: respx.MockRouter) -> None:
    tool = me.tools.create(name=f"rpc-{uuid.uuid4().hex[:6]}", code="x")
    usage = [
        {"id": str(uuid.uuid4()), "custom_tool_id": str(tool.id), "tool_name": tool.name, "status": "success"}
    ]
    call = Rpc("log_tool_calls", {"p_usage": usage}, returns="scalar", casts={"p_usage": "jsonb"})
    router.calls.clear()
    # A gateway's 502: the RPC may have run behind it, so it is not sent again. (A PostgREST 503/504 with
    # PGRST000/002/003 proves it never ran, and is retried: tests/client/test_rest_retry_rules.py.)
    emulator.fail_next(1, status=502, method="POST", body=b"<html>Bad Gateway</html>")
    with pytest.raises(TransientError):
        me._transport.rpc(call, idempotent=False)
    assert _calls(router) == 1
    assert me._transport.rpc(call, idempotent=False) == 1
    assert me.tools.get(tool.id).usage_count == 1


def test_expired_token_is_an_auth_error_not_retried(router: respx.MockRouter, make_user) -> None:
    from phase3_sdk import AuthError, Identity
    from phase3_sdk.identity import mint_user_token

    router.calls.clear()
    uid = make_user()
    token = mint_user_token(uid, JWT_SECRET, expires_in=-10)
    client = rest_client()._as_identity(Identity.for_user(uid, access_token=token))
    with pytest.raises(AuthError) as err:
        client.tools.count()
    assert err.value.code == "PGRST303"
    assert err.value.status == 401
    assert token not in str(err.value)
    assert len(router.calls) == 1


def test_postgres_killed_connection_is_transient_and_a_read_retries(db_url: str, make_user, emulator) -> None:
    uid = make_user()
    client = Phase3Client.connect(db_url, retry=FAST_RETRY, min_connections=1, max_connections=1)
    try:
        me = client.as_user(user_id=uid)
        assert me.tools.count() == 0

        def kill() -> None:
            # With a timeout, pg_terminate_backend waits until the backend has really exited (PostgreSQL
            # 14+). Without one it only signals it: the next call could then find a connection that is
            # still alive when the pool lends it and dies mid-query, which made this test fail at random.
            with psycopg.connect(db_url, autocommit=True) as admin:
                killed = admin.execute(
                    "select pg_terminate_backend(pid, 10000) from pg_stat_activity "
                    "where datname = current_database() and pid <> pg_backend_pid() and pid <> %s "
                    "and backend_type = 'client backend'",
                    (emulator.backend_pid,),
                ).fetchall()
                assert killed
                assert all(ended for (ended,) in killed)  # each backend exited within the 10 s

        kill()
        # The pooled connection the server ended is passed over before it is lent, so even a call with
        # retries off gets a live connection and spends no attempt on the dead one.
        assert me.with_retry(RetryPolicy.none()).tools.count() == 0
        kill()
        assert me.tools.count() == 0
    finally:
        client.close()

"""``skills.resume_expired``: pick up every run whose process died, on both backends (and asyncio).

Every test here runs on the Postgres and the REST backend (``backend``), over one module database, and
ends every execution it leaves running so that the service-role listing of the next test sees only its own.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from typing import Any
from uuid import UUID

import pytest
import respx

from phase3_sdk import AsyncPhase3Client, Identity, Phase3Client
from phase3_sdk._sync.engine.store import ExecutionStore
from phase3_sdk._sync.transport import Transport
from phase3_sdk.backends.base import Filter, Update
from phase3_sdk.errors import InvalidInputError, PermissionDeniedError
from phase3_sdk.schema.tables import SKILL_EXECUTIONS
from support.backends import ANON_KEY, BASE_URL, FAST_RETRY, JWT_SECRET, SERVICE_KEY

from .conftest import LEASE, Env, interrupted, wait_for_lease_expiry

LONG_LEASE = 60  # seconds: a lease that stays live for the whole test (a process still at work)


def end(env: Env, *execution_ids: UUID) -> None:
    """End executions left running: expire their lease, then cancel (which ends an unheld run at once)."""
    service = env.client.service()
    for execution_id in execution_ids:
        service._transport.update(
            Update(
                SKILL_EXECUTIONS.name,
                (Filter("id", "eq", execution_id),),
                {"lease_expires_at": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)},
                ("id",),
            )
        )
        assert service.skills.cancel(execution_id).status == "cancelled"


@pytest.fixture
def identities(monkeypatch: pytest.MonkeyPatch) -> list[Identity]:
    """Every identity a transport is re-made with (``Transport.with_identity``): who impersonated whom."""
    seen: list[Identity] = []
    original = Transport.with_identity

    def spy(self: Transport, identity: Identity) -> Transport:
        seen.append(identity)
        return original(self, identity)

    monkeypatch.setattr(Transport, "with_identity", spy)
    return seen


def test_resume_expired_as_a_user_then_as_the_service_role(
    backend: Env, make_user: Any, identities: list[Identity]
) -> None:
    a, b = backend.as_user(make_user()), backend.as_user(make_user())
    a_calls: list[str] = []
    b_calls: list[str] = []
    mine = interrupted(a, a_calls)
    held = interrupted(a, [], lease=LONG_LEASE)  # its process is alive: not expired, never taken over
    theirs = interrupted(b, b_calls)
    a_calls.clear()
    b_calls.clear()

    assert a.skills.resume_expired(lease_seconds=LEASE) == []  # nothing has expired yet
    wait_for_lease_expiry()

    (done,) = a.skills.resume_expired(lease_seconds=LEASE)
    assert (done.id, done.status, done.final_output, done.user_id) == (mine, "completed", {"v": 3}, a.user_id)
    assert a_calls == ["slow", "last"]  # the checkpointed step did not run again
    assert a.skill_executions.get(held).status == "running"
    assert b.skill_executions.get(theirs).status == "running"  # B's run is not A's to resume
    assert a.skills.resume_expired() == []  # nothing left of A's that has expired
    assert identities == []  # a user resumes as themselves

    # The client acts for each run's owner on either backend (over REST by minting the owner's token).
    (resumed,) = backend.client.skills.resume_expired(lease_seconds=LEASE)
    assert (resumed.id, resumed.status, resumed.user_id) == (theirs, "completed", b.user_id)
    assert b_calls == ["slow", "last"]
    usage = list(b.tool_usage.list(skill_execution_id=theirs))
    assert {u.user_id for u in usage} == {b.user_id}
    assert b.skills.get(resumed.composite_skill_id).execution_count == 1
    if backend.kind == "rest":  # each request of B's run carried B's token, none the service key
        claims = [
            r
            for r in backend.requests()
            if r.url.path.endswith("/rpc/claim_skill_execution") and str(theirs) in r.content.decode()
        ]
        assert claims
        assert all(Identity.from_token(r.headers["authorization"][7:]).user_id == b.user_id for r in claims)
    end(backend, held)


def test_resume_expired_skips_runs_another_process_takes(backend: Env, make_user: Any) -> None:
    user = make_user()
    me = backend.as_user(user)
    other = ExecutionStore(backend.as_user(user)._transport)  # "another process" of the same user
    taken: list[UUID] = []

    def claim_the_next_one() -> None:
        # While the first run is being resumed, another process claims the second before we get to it.
        assert other.claim(taken[0], "another-process", LONG_LEASE) is not None

    def steal_my_own_lease() -> None:
        # Mid-run, the lease passes to another process (ours stalled past expiry): our next checkpoint is
        # refused and this run is theirs now.
        backend.client._transport.update(
            Update(
                SKILL_EXECUTIONS.name,
                (Filter("id", "eq", taken[1]),),
                {
                    "lease_owner": "thief",
                    "lease_expires_at": dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
                },
                ("id",),
            )
        )

    calls: list[str] = []
    first = interrupted(me, calls, on_resume=claim_the_next_one)
    taken.append(interrupted(me, []))
    taken.append(interrupted(me, [], on_resume=steal_my_own_lease))
    wait_for_lease_expiry()

    resumed = me.skills.resume_expired(lease_seconds=LEASE)

    assert [r.id for r in resumed] == [first]  # the other two were skipped, not errors
    claimed, stolen = (me.skill_executions.get(i) for i in taken)
    assert (claimed.status, claimed.lease_owner, claimed.steps_completed) == ("running", "another-process", 1)
    assert (stolen.status, stolen.lease_owner, stolen.steps_completed) == ("running", "thief", 1)
    end(backend, *taken)


def test_resume_expired_checks_its_arguments_and_who_asks(backend: Env, make_user: Any) -> None:
    me = backend.as_user(make_user())
    sent = backend.sent()
    for bad in ({"limit": 0}, {"limit": True}, {"lease_seconds": 0}, {"timeout": -1}):
        with pytest.raises(InvalidInputError):
            me.skills.resume_expired(**bad)
    assert backend.sent() == sent  # refused before any request
    with pytest.raises(PermissionDeniedError):
        backend.anon().skills.resume_expired()  # the function is not granted to anon


@pytest.fixture
async def aclient(backend: Env, router: respx.MockRouter) -> Any:
    """An asyncio root client on the same backend kind and database as ``backend``."""
    if backend.kind == "rest":
        client = AsyncPhase3Client(
            BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=FAST_RETRY
        )
    else:
        client = AsyncPhase3Client.connect(backend.db_url, jwt_secret=JWT_SECRET, retry=FAST_RETRY)
    async with client:
        yield client


async def test_async_resume_expired(backend: Env, aclient: AsyncPhase3Client, make_user: Any) -> None:
    user = make_user()
    sync_me: Phase3Client = backend.as_user(user)
    execution_id = interrupted(sync_me, [])
    snapshot = sync_me.skill_executions.get(execution_id).skill_snapshot
    assert snapshot is not None
    calls: list[str] = []

    me = aclient.as_user(user_id=user)
    # This process's handlers for the same tools (a resumer registers its own, as after a restart).
    for step in snapshot[1:]:

        async def handler(params: dict[str, Any], name: str = step["stepId"]) -> dict[str, int]:
            calls.append(name)
            return {"v": params["v"] + 1}

        me.tools.register(step["toolName"], handler)

    assert await me.skills.resume_expired() == []
    await asyncio.sleep(LEASE + 0.1)
    (done,) = await me.skills.resume_expired(lease_seconds=LEASE)
    assert (done.id, done.status, done.final_output) == (execution_id, "completed", {"v": 3})
    assert calls == ["slow", "last"]
    assert await aclient.as_user(user_id=user).skills.resume_expired() == []
    assert uuid.UUID(str(done.user_id)) == user

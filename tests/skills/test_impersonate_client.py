"""``impersonate=`` takes a client acting for the user, the public way (0.1 needed its private
``_transport``); the run is resumed as its owner on both backends."""

from __future__ import annotations

from typing import Any

from phase3_sdk import Identity

from .conftest import LEASE, Env, interrupted, wait_for_lease_expiry


def test_resume_expired_impersonates_through_a_client(backend: Env, make_user: Any) -> None:
    owner = backend.as_user(make_user())
    calls: list[str] = []
    theirs = interrupted(owner, calls)
    calls.clear()
    wait_for_lease_expiry()
    asked: list[Any] = []

    def act_as(user_id: Any) -> Any:
        asked.append(user_id)
        return backend.client.as_user(user_id=user_id)

    (resumed,) = backend.client.skills.resume_expired(lease_seconds=LEASE, impersonate=act_as)
    assert (resumed.id, resumed.status, resumed.user_id) == (theirs, "completed", owner.user_id)
    assert asked == [owner.user_id]
    assert calls == ["slow", "last"]
    if backend.kind == "rest":  # the claim carried the owner's token, minted by the client we returned
        claims = [
            r
            for r in backend.requests()
            if r.url.path.endswith("/rpc/claim_skill_execution") and str(theirs) in r.content.decode()
        ]
        assert claims
        assert all(
            Identity.from_token(r.headers["authorization"][7:]).user_id == owner.user_id for r in claims
        )

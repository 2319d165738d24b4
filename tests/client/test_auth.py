"""``client.auth.sign_in_with_password``: GoTrue answered by respx, data by the emulator, refresh."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import jwt
import pytest
import respx

from phase3_sdk import AsyncPhase3Client, AuthError, ConfigurationError, Phase3Client
from support.backends import ANON_KEY, BASE_URL, JWT_SECRET, SERVICE_KEY, rest_client


def gotrue_session(user_id: UUID, *, expires_in: int = 3600, refresh_token: str = "r1") -> dict[str, Any]:
    """Exactly the JSON GoTrue returns from /token (password and refresh_token grants)."""
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "email": "a@example.test",
        "iat": now,
        "exp": now + expires_in,
        "session_id": str(uuid.uuid4()),
        "aal": "aal1",
    }
    token = jwt.encode(claims, JWT_SECRET, algorithm="HS256")
    stamp = "2026-02-02T10:00:00.000000Z"
    return {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": expires_in,
        "expires_at": now + expires_in,
        "refresh_token": refresh_token,
        "user": {
            "id": str(user_id),
            "aud": "authenticated",
            "role": "authenticated",
            "email": "a@example.test",
            "email_confirmed_at": stamp,
            "phone": "",
            "confirmed_at": stamp,
            "last_sign_in_at": stamp,
            "app_metadata": {"provider": "email", "providers": ["email"]},
            "user_metadata": {},
            "identities": [],
            "created_at": stamp,
            "updated_at": stamp,
            "is_anonymous": False,
        },
    }


class GoTrue:
    """A scripted /auth/v1/token: a password grant for one user, and rotating refresh tokens."""

    def __init__(self, user_id: UUID) -> None:
        self.user_id = user_id
        self.issued: list[str] = []
        self.refresh_calls = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert request.headers["apikey"] == ANON_KEY
        assert "authorization" not in request.headers or SERVICE_KEY not in request.headers["authorization"]
        grant = request.url.params["grant_type"]
        if grant == "password":
            if body != {"email": "a@example.test", "password": "right"}:
                return httpx.Response(
                    400,
                    json={
                        "code": 400,
                        "error_code": "invalid_credentials",
                        "msg": "Invalid login credentials",
                    },
                )
            session = gotrue_session(self.user_id, refresh_token="r1")
        else:
            assert grant == "refresh_token"
            self.refresh_calls += 1
            if body["refresh_token"] != f"r{self.refresh_calls}":
                return httpx.Response(
                    400,
                    json={
                        "code": 400,
                        "error_code": "refresh_token_already_used",
                        "msg": "Invalid Refresh Token: Already Used",
                    },
                )
            session = gotrue_session(self.user_id, refresh_token=f"r{self.refresh_calls + 1}")
        self.issued.append(session["access_token"])
        return httpx.Response(200, json=session)


@pytest.fixture
def gotrue(emulator, make_user) -> Iterator[tuple[GoTrue, respx.MockRouter]]:
    server = GoTrue(make_user())
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        router.post("/auth/v1/token").mock(side_effect=server)
        router.route().mock(side_effect=emulator.handle)
        yield server, router


def _bearers(router: respx.MockRouter) -> list[str]:
    return [
        c.request.headers["authorization"][7:]
        for c in router.calls
        if c.request.url.path.startswith("/rest/")
    ]


def test_sign_in_gives_a_user_client_that_refreshes_before_expiry(gotrue) -> None:
    server, router = gotrue
    me = rest_client().auth.sign_in_with_password("a@example.test", "right")
    assert me.user_id == server.user_id
    tool = me.tools.create(name="mine", code="x")
    assert tool.user_id == server.user_id
    assert _bearers(router) == [server.issued[0]]

    session = me.auth.session
    assert session is not None
    session._expires_at = time.time() + 30  # within the 60 s margin: the next request refreshes first
    assert me.tools.get(tool.id) == tool
    assert server.refresh_calls == 1
    assert _bearers(router)[-1] == server.issued[1] != server.issued[0]
    assert me.identity.access_token == server.issued[1]
    me.tools.count()
    assert server.refresh_calls == 1  # fresh again: no second refresh
    for req in (c.request for c in router.calls):
        assert SERVICE_KEY not in req.headers.get("authorization", "")
        assert req.headers.get("apikey") != SERVICE_KEY


def test_wrong_password_is_an_auth_error_without_the_password(gotrue) -> None:
    with pytest.raises(AuthError) as err:
        rest_client().auth.sign_in_with_password("a@example.test", "wrong-secret-pw")
    assert err.value.code == "invalid_credentials"
    assert "Invalid login credentials" in str(err.value)
    assert "wrong-secret-pw" not in str(err.value)


def test_a_rejected_refresh_is_an_auth_error(gotrue) -> None:
    me = rest_client().auth.sign_in_with_password("a@example.test", "right")
    session = me.auth.session
    assert session is not None
    session._refresh_token = "stolen-and-used"
    session._expires_at = time.time()
    with pytest.raises(AuthError) as err:
        me.tools.count()
    assert err.value.code == "refresh_token_already_used"
    assert "stolen-and-used" not in str(err.value)


def test_sign_in_needs_a_rest_client(db_url: str) -> None:
    client = Phase3Client.connect(db_url)
    try:
        with pytest.raises(ConfigurationError):
            client.auth.sign_in_with_password("a@example.test", "right")
    finally:
        client.close()


async def test_async_sign_in_and_refresh(gotrue) -> None:
    server, router = gotrue
    async with AsyncPhase3Client(BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET) as root:
        me = await root.auth.sign_in_with_password("a@example.test", "right")
        tool = await me.tools.create(name="async-mine", code="x")
        assert me.auth.session is not None
        me.auth.session._expires_at = time.time() + 1
        assert (await me.tools.get(tool.id)).id == tool.id
        assert server.refresh_calls == 1
        assert _bearers(router)[-1] == server.issued[-1]

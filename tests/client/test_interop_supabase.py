"""An app that already holds a supabase-py client hands it over; its own RPC functions are callable.

supabase-py is not installed here (nor a dependency): the clients below are shaped as supabase-py's are
(``supabase_url`` a URL object whose str ends in '/', ``supabase_key``, ``auth.get_session()`` and
``auth.on_auth_state_change(callback(event, session))``, async ``get_session`` for the async client). The
REST side is the PostgREST emulator over the real database.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import jwt
import psycopg
import pytest
import respx

from phase3_sdk import AsyncPhase3Client, Phase3Client, RetryPolicy
from phase3_sdk.config import Settings
from phase3_sdk.errors import (
    ConfigurationError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    TransientError,
)
from support.backends import ANON_KEY, BASE_URL, FAST_RETRY, JWT_SECRET, SERVICE_KEY, Env, PostgrestEmulator

MakeUser = Callable[..., uuid.UUID]


class URL:
    """What yarl.URL looks like to us: str() gives the URL, with the trailing slash supabase-py adds."""

    def __init__(self, text: str) -> None:
        self._text = text

    def __str__(self) -> str:
        return self._text


@dataclass
class Session:
    access_token: str
    refresh_token: str = "refresh"


class Auth:
    """supabase-py's sync auth client, as far as from_supabase() uses it."""

    def __init__(self, session: Session | None) -> None:
        self.session = session
        self.callbacks: list[Callable[[str, Session | None], None]] = []

    def get_session(self) -> Session | None:
        return self.session

    def on_auth_state_change(self, callback: Callable[[str, Session | None], None]) -> object:
        self.callbacks.append(callback)
        return object()

    def emit(self, event: str, session: Session | None) -> None:
        self.session = session
        for callback in self.callbacks:
            callback(event, session)


class AsyncAuth(Auth):
    async def get_session(self) -> Session | None:  # type: ignore[override]
        return self.session


class Supabase:
    def __init__(self, auth: Auth, key: str = ANON_KEY) -> None:
        self.supabase_url = URL(BASE_URL + "/")
        self.supabase_key = key
        self.auth = auth


def token_for(user_id: uuid.UUID, *, issued: int | None = None) -> str:
    now = issued or int(time.time())
    claims = {
        "sub": str(user_id),
        "role": "authenticated",
        "aud": "authenticated",
        "iat": now,
        "exp": now + 3600,
    }
    return jwt.encode(claims, JWT_SECRET, "HS256")


def bearer(router: respx.MockRouter) -> str:
    return str(router.calls.last.request.headers["authorization"])


def test_a_sync_supabase_client_hands_over_its_session_and_its_refreshes(
    router: respx.MockRouter, make_user: MakeUser
) -> None:
    alice, bob = make_user(), make_user()
    first = token_for(alice, issued=int(time.time()) - 60)
    auth = Auth(Session(first))
    with Phase3Client.from_supabase(Supabase(auth), retry=FAST_RETRY) as client:
        assert client.user_id == alice
        tool = client.tools.create(name="mine", code="return 1;")
        assert tool.user_id == alice
        assert bearer(router) == f"Bearer {first}"

        refreshed = token_for(alice)
        assert refreshed != first
        auth.emit("TOKEN_REFRESHED", Session(refreshed))
        assert [t.name for t in client.tools.list()] == ["mine"]
        assert bearer(router) == f"Bearer {refreshed}"  # the new token, on the same client and resource

        auth.emit("SIGNED_IN", Session(token_for(bob)))
        assert client.user_id == bob
        assert list(client.tools.list()) == []  # RLS: bob sees none of alice's tools

        auth.emit("SIGNED_OUT", None)
        assert client.identity.role == "anon"
        with pytest.raises(PermissionDeniedError):  # anon may not read tools at all
            client.tools.count()
        assert bearer(router) == f"Bearer {ANON_KEY}"


async def test_an_async_supabase_client_is_awaited_for_its_session(
    router: respx.MockRouter, make_user: MakeUser
) -> None:
    alice = make_user()
    auth = AsyncAuth(Session(token_for(alice)))
    async with await AsyncPhase3Client.from_supabase(Supabase(auth), retry=FAST_RETRY) as client:
        assert client.user_id == alice
        await client.tools.create(name="async-one", code="return 1;")
        assert await client.tools.count() == 1
        auth.emit("SIGNED_OUT", None)
        with pytest.raises(PermissionDeniedError):
            await client.tools.count()


def test_signed_out_the_client_acts_as_its_key_says(router: respx.MockRouter) -> None:
    with Phase3Client.from_supabase(Supabase(Auth(None), key=SERVICE_KEY)) as client:
        assert client.identity.role == "service_role"
    with Phase3Client.from_supabase(Supabase(Auth(None))) as client:
        assert client.identity.role == "anon"


def test_the_sync_client_refuses_an_async_supabase_client_by_name() -> None:
    with pytest.raises(ConfigurationError, match=r"AsyncPhase3Client\.from_supabase"):
        Phase3Client.from_supabase(Supabase(AsyncAuth(None)))


def test_something_that_is_not_a_supabase_client_is_named() -> None:
    with pytest.raises(ConfigurationError, match=r"takes a supabase-py client.*got dict"):
        Phase3Client.from_supabase({"url": BASE_URL})


def test_supabase_key_is_the_anon_key_and_a_service_key_there_is_never_sent_for_users() -> None:
    settings = Settings.from_env(None, environ={"SUPABASE_URL": BASE_URL, "SUPABASE_KEY": ANON_KEY})
    assert settings.anon_key is not None
    assert settings.anon_key.get_secret_value() == ANON_KEY
    with Phase3Client.from_settings(settings) as client:
        assert client.identity.role == "anon"
    both = {"SUPABASE_URL": BASE_URL, "SUPABASE_KEY": "other", "SUPABASE_ANON_KEY": ANON_KEY}
    assert Settings.from_env(None, environ=both).anon_key.get_secret_value() == ANON_KEY  # type: ignore[union-attr]
    # An example that put the service key in SUPABASE_KEY: the client is a service client, and a user's
    # client made from it has no anon key to send rather than sending the service key.
    service = Settings.from_env(None, environ={"SUPABASE_URL": BASE_URL, "SUPABASE_KEY": SERVICE_KEY})
    with Phase3Client.from_settings(service) as client:
        assert client.identity.role == "service_role"
        assert client._shared.backend.anon_key is None  # type: ignore[attr-defined]


# -- rpc: the app's own functions, on both backends ------------------------------------------------------


@pytest.fixture(scope="module")
def app_functions(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            """
            create or replace function public.add_numbers(a integer, b integer) returns integer
              language sql immutable as $$ select a + b $$;
            create or replace function public.my_tool_names(prefix text default '')
              returns table (name text) language sql stable
              as $$ select t.name from public.custom_tools t where t.name like prefix || '%' order by 1 $$;
            create or replace function public.my_tools_ranked()
              returns table (name text, rank bigint) language sql stable
              as $$ select t.name, row_number() over (order by t.name) from public.custom_tools t $$;
            create or replace function public.echo_settings(settings jsonb) returns jsonb
              language sql immutable as $$ select settings || '{"seen": true}'::jsonb $$;
            create or replace function public.refuse(reason text) returns void language plpgsql as $$
              begin raise exception '%', reason using errcode = '22023'; end $$;
            """
        )


@pytest.fixture
def rpc_env(backend: Env, app_functions: None) -> Env:
    return backend


def test_rpc_calls_the_apps_functions_as_the_caller(rpc_env: Env, make_user: MakeUser) -> None:
    me = rpc_env.as_user(make_user())
    me.tools.create(name="alpha", code="return 1;")
    me.tools.create(name="beta", code="return 1;")
    rpc_env.as_user(make_user()).tools.create(name="alien", code="return 1;")
    assert me.rpc("add_numbers", {"a": 2, "b": 3}, returns="scalar") == 5
    # The function runs as the caller, so RLS decides whose tools it sees.
    # A one-column "returns table" is a set of a scalar type to PostgreSQL: PostgREST sends the values.
    assert me.rpc("my_tool_names") == ["alpha", "beta"]
    assert me.rpc("my_tool_names", {"prefix": "b"}) == ["beta"]
    assert me.rpc("my_tools_ranked") == [{"name": "alpha", "rank": 1}, {"name": "beta", "rank": 2}]
    assert me.rpc("echo_settings", {"settings": {"x": [1, 2]}}, returns="scalar") == {
        "x": [1, 2],
        "seen": True,
    }


def test_rpc_errors_are_typed(rpc_env: Env, make_user: MakeUser) -> None:
    me = rpc_env.as_user(make_user())
    with pytest.raises(InvalidInputError, match="not today"):
        me.rpc("refuse", {"reason": "not today"}, returns="none")
    with pytest.raises(NotFoundError):
        me.rpc("no_such_function", {"a": 1})


def test_rpc_names_are_checked_before_any_request(rpc_env: Env) -> None:
    sent = rpc_env.sent()
    with pytest.raises(InvalidInputError, match="plain function name"):
        rpc_env.client.rpc("add_numbers; drop table x", {})
    with pytest.raises(InvalidInputError, match="argument names"):
        rpc_env.client.rpc("add_numbers", {"a b": 1})
    with pytest.raises(InvalidInputError, match="returns must be"):
        rpc_env.client.rpc("add_numbers", {"a": 1, "b": 2}, returns="table")  # type: ignore[arg-type]
    assert rpc_env.sent() == sent


def test_rpc_retries_only_what_the_caller_says_is_idempotent(
    router: respx.MockRouter, emulator: PostgrestEmulator, app_functions: None
) -> None:
    retry = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=0.05, max_total=5.0, jitter=False)
    with Phase3Client(BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, retry=retry) as client:
        # A 502 from a gateway leaves unknown whether the function ran: only an idempotent call is re-sent.
        # (A 503 PGRST003 would be re-sent either way: PostgREST never reached the database.)
        emulator.fail_next(1, status=502)
        with pytest.raises(TransientError):
            client.rpc("add_numbers", {"a": 1, "b": 1}, returns="scalar")
        emulator.fail_next(1, status=502)
        assert client.rpc("add_numbers", {"a": 1, "b": 1}, returns="scalar", idempotent=True) == 2

"""The two-backend fixtures every area's tests share (a pytest plugin, loaded by ``tests/conftest.py``).

* ``emulator`` / ``router`` (module): the PostgREST emulator on this module's database, mounted with respx
  at ``http://phase3.test`` (the only mock boundary: everything behind it is the real database).
* ``backend`` (module, parametrized ``postgres`` | ``rest``): a :class:`Env` holding a service client of
  that backend, ``as_user(uid)``, and ``sent()``: how many requests or transactions reached the server.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import jwt
import pytest
import respx

from phase3_sdk import Phase3Client, RetryPolicy

from .postgrest_emulator import BASE_URL, PostgrestEmulator

__all__ = [
    "ANON_KEY",
    "BASE_URL",
    "FAST_RETRY",
    "JWT_SECRET",
    "SERVICE_KEY",
    "Env",
    "PostgrestEmulator",
    "backend",
    "emulator",
    "rest_client",
    "router",
    "users",
]

JWT_SECRET = "phase3-test-jwt-secret-at-least-32-characters"
ANON_KEY = jwt.encode(
    {"iss": "supabase", "role": "anon", "iat": 1700000000, "exp": 4102444800}, JWT_SECRET, "HS256"
)
SERVICE_KEY = jwt.encode(
    {"iss": "supabase", "role": "service_role", "iat": 1700000000, "exp": 4102444800}, JWT_SECRET, "HS256"
)
#: Deterministic, fast retries: 10 ms, 20 ms, ...; Retry-After honoured up to 2 s.
FAST_RETRY = RetryPolicy(max_attempts=3, initial_delay=0.01, max_delay=2.0, max_total=15.0, jitter=False)


@pytest.fixture(scope="module")
def emulator(db_url: str) -> Iterator[PostgrestEmulator]:
    emu = PostgrestEmulator(db_url, jwt_secret=JWT_SECRET, anon_key=ANON_KEY, service_key=SERVICE_KEY)
    yield emu
    emu.close()


@pytest.fixture(scope="module")
def router(emulator: PostgrestEmulator) -> Iterator[respx.MockRouter]:
    with emulator.mount() as r:
        yield r


def rest_client(retry: RetryPolicy = FAST_RETRY) -> Phase3Client:
    """A REST client made with the service key (plus the anon key for user-scoped clients)."""
    return Phase3Client(BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=retry)


@dataclass
class Env:
    """One backend under test."""

    kind: str
    client: Phase3Client
    router: respx.MockRouter
    emulator: PostgrestEmulator
    db_url: str
    _runs: list[int] = field(default_factory=lambda: [0])

    def as_user(self, user_id: UUID) -> Phase3Client:
        return self.client.as_user(user_id=user_id)

    def anon(self) -> Phase3Client:
        from phase3_sdk import Identity

        return self.client._as_identity(Identity.anon())

    def sent(self) -> int:
        """Requests (REST) or transactions (Postgres) that reached the server so far."""
        return len(self.router.calls) if self.kind == "rest" else self._runs[0]

    def requests(self) -> list[Any]:
        return [call.request for call in self.router.calls]


def _count_runs(backend: Any, counter: list[int]) -> None:
    run = backend.run

    def counting(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        return run(*args, **kwargs)

    backend.run = counting


@pytest.fixture(scope="module", params=["postgres", "rest"])
def backend(
    request: pytest.FixtureRequest, db_url: str, emulator: PostgrestEmulator, router: respx.MockRouter
) -> Iterator[Env]:
    if request.param == "rest":
        client = rest_client()
        env = Env("rest", client, router, emulator, db_url)
    else:
        client = Phase3Client.connect(db_url, jwt_secret=JWT_SECRET, retry=FAST_RETRY, max_connections=4)
        env = Env("postgres", client, router, emulator, db_url)
        _count_runs(client._shared.backend, env._runs)
    yield env
    client.close()


@pytest.fixture
def users(make_user: Callable[..., UUID]) -> tuple[UUID, UUID]:
    """Two fresh users, A and B."""
    return make_user(), make_user()

"""The asyncio client over both backends: a representative subset of the conformance suite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from uuid import UUID

import pytest
import respx

from phase3_sdk import AsyncPhase3Client, InvalidInputError, NotFoundError, PermissionDeniedError
from support.backends import ANON_KEY, BASE_URL, FAST_RETRY, JWT_SECRET, SERVICE_KEY


@pytest.fixture(params=["postgres", "rest"])
async def aclient(
    request: pytest.FixtureRequest, db_url: str, router: respx.MockRouter
) -> AsyncIterator[AsyncPhase3Client]:
    if request.param == "rest":
        client = AsyncPhase3Client(
            BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=FAST_RETRY
        )
    else:
        client = AsyncPhase3Client.connect(db_url, jwt_secret=JWT_SECRET, retry=FAST_RETRY, max_connections=4)
    async with client:
        yield client


async def test_crud_list_and_isolation(aclient: AsyncPhase3Client, users: tuple[UUID, UUID]) -> None:
    a, b = aclient.as_user(user_id=users[0]), aclient.as_user(user_id=users[1])
    made = await asyncio.gather(
        *(
            a.patterns.create(pattern_type="p", layer=1 + i % 7, description=f"d{i}", confidence=0.1 * i)
            for i in range(5)
        )
    )
    assert {p.id for p in [x async for x in a.patterns.list(page_size=2)]} == {p.id for p in made}
    assert await a.patterns.count(min_confidence=0.2) == 3
    page = await a.patterns.page(2, order="confidence")
    assert [p.id for p in page.items] == [made[0].id, made[1].id]
    assert page.next_cursor is not None
    updated = await a.patterns.confirm(made[0].id, notes="yes")
    assert updated.user_confirmed
    assert updated.user_notes == "yes"
    with pytest.raises(NotFoundError):
        await b.patterns.get(made[0].id)
    with pytest.raises(NotFoundError):
        await b.patterns.update(made[0].id, description="x")
    with pytest.raises(NotFoundError):
        await b.patterns.delete(made[0].id)
    await a.patterns.delete(made[0].id)
    with pytest.raises(NotFoundError):
        await a.patterns.get(made[0].id)


async def test_anon_and_bad_input(aclient: AsyncPhase3Client, users: tuple[UUID, UUID]) -> None:
    from phase3_sdk import Identity

    with pytest.raises(PermissionDeniedError):
        await aclient._as_identity(Identity.anon()).conversations.count()
    me = aclient.as_user(user_id=users[0])
    with pytest.raises(InvalidInputError) as err:
        await me.search.semantic([0.0] * 767)
    assert "768" in str(err.value)
    with pytest.raises(InvalidInputError) as err:
        me.tools.list(colour="red")  # type: ignore[call-arg]
    assert err.value.field == "colour"


async def test_rest_retry_and_headers(
    db_url: str, emulator, router: respx.MockRouter, users: tuple[UUID, UUID]
) -> None:
    async with AsyncPhase3Client(
        BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=FAST_RETRY
    ) as root:
        me = root.as_user(user_id=users[0])
        router.calls.clear()
        emulator.fail_next(1, status=503)
        assert await me.tools.count() == 0
        assert len(router.calls) == 2
        assert all(c.request.headers["apikey"] == ANON_KEY for c in router.calls)
        emulator.drop_after_commit("POST")
        tool = await me.tools.create(name="async-once", code="x")
        assert await me.tools.count(name="async-once") == 1
        assert (await me.tools.get(tool.id)).name == "async-once"

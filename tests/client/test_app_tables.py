"""``client.table(name, row=Model)``: the app's own tables, on both backends, with the table's RLS.

The tables are created in this module's database with an owner policy, as an app's migration would; the
REST side is the PostgREST emulator over the same database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

import psycopg
import pytest
import respx
from pydantic import BaseModel, Field

from phase3_sdk import AsyncPhase3Client
from phase3_sdk.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from support.backends import ANON_KEY, BASE_URL, FAST_RETRY, JWT_SECRET, SERVICE_KEY, Env

MakeUser = Callable[..., uuid.UUID]


class Note(BaseModel):
    """A row of the app's ``notes`` table, as the app models it."""

    id: uuid.UUID
    user_id: uuid.UUID
    body: str
    stars: int = 0
    tags: list[str] = []
    meta: dict[str, Any] | None = None
    created_at: datetime


class Counter(BaseModel):
    """A table whose id is a bigint the app chooses."""

    id: int
    label: str


@pytest.fixture(scope="module")
def app_tables(db_url: str) -> None:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(
            """
            create table public.notes (
              id uuid primary key,
              user_id uuid not null default auth.uid() references auth.users (id),
              body text not null check (length(body) > 0),
              stars integer not null default 0,
              tags text[] not null default '{}',
              meta jsonb,
              created_at timestamptz not null default now()
            );
            alter table public.notes enable row level security;
            create policy notes_owner on public.notes for all to authenticated
              using (user_id = auth.uid()) with check (user_id = auth.uid());
            grant select, insert, update, delete on public.notes to authenticated, service_role;
            create table public.counters (id bigint primary key, label text not null);
            alter table public.counters enable row level security;
            create policy counters_read on public.counters for select to authenticated using (true);
            grant select, insert, update, delete on public.counters to authenticated, service_role;
            """
        )


@pytest.fixture
def env(backend: Env, app_tables: None) -> Env:
    return backend


def test_crud_with_the_apps_model(env: Env, make_user: MakeUser) -> None:
    me = env.as_user(user := make_user())
    notes = me.table("notes", row=Note)
    made = notes.create(body="first", stars=3, tags=["a", "b"], meta={"mood": [1, 2]})
    assert isinstance(made, Note)
    assert (made.user_id, made.body, made.stars, made.tags, made.meta) == (
        user,
        "first",
        3,
        ["a", "b"],
        {"mood": [1, 2]},
    )
    assert notes.get(made.id) == made
    assert notes.get(str(made.id)) == made
    changed = notes.update(made.id, stars=5, meta={"mood": []})
    assert (changed.stars, changed.meta, changed.body) == (5, {"mood": []}, "first")
    notes.delete(made.id)
    with pytest.raises(NotFoundError):
        notes.get(made.id)
    with pytest.raises(NotFoundError):
        notes.delete(made.id)


def test_list_page_count_use_the_filter_vocabulary(env: Env, make_user: MakeUser) -> None:
    notes = env.as_user(make_user()).table("notes", row=Note)
    made = notes.create_many(
        [{"body": f"n{i}", "stars": i, "tags": ["even" if i % 2 == 0 else "odd"]} for i in range(7)]
    )
    assert [n.body for n in made] == [f"n{i}" for i in range(7)]
    assert notes.count() == 7
    assert notes.count(stars__gte=4) == 3
    assert notes.count(tags__cs=["even"]) == 4
    assert notes.count(body__in=["n1", "n2", "nope"]) == 2
    assert notes.count(meta__is=None) == 7
    assert [n.stars for n in notes.list(order="-stars", page_size=2)] == [6, 5, 4, 3, 2, 1, 0]
    assert [n.stars for n in notes.list(order="stars", stars__lt=3, limit=2)] == [0, 1]
    assert list(notes.list(order="stars", columns=["body"], stars__neq=0, limit=2)) == [
        {"body": "n1"},
        {"body": "n2"},
    ]
    first = notes.page(3, order="stars")
    second = notes.page(3, first.next_cursor, order="stars")
    assert [n.stars for n in first.items + second.items] == [0, 1, 2, 3, 4, 5]
    assert [n.stars for n in notes.list(body="n3")] == [3]


def test_rls_holds_for_the_apps_table(env: Env, make_user: MakeUser) -> None:
    alice, bob = make_user(), make_user()
    mine = env.as_user(alice).table("notes", row=Note).create(body="alice's")
    theirs = env.as_user(bob).table("notes", row=Note)
    assert theirs.count() == 0
    assert list(theirs.list()) == []
    with pytest.raises(NotFoundError):
        theirs.get(mine.id)
    with pytest.raises(NotFoundError):
        theirs.update(mine.id, body="bob was here")
    with pytest.raises(NotFoundError):
        theirs.delete(mine.id)
    # Writing a row for someone else is refused by the policy's WITH CHECK.
    with pytest.raises(PermissionDeniedError):
        theirs.create(body="forged", user_id=alice)
    # The service role sees every user's rows, and the row is untouched.
    assert env.client.table("notes", row=Note).get(mine.id).body == "alice's"


def test_rows_as_dicts_without_a_model(env: Env, make_user: MakeUser) -> None:
    me = env.as_user(make_user())
    made = me.table("notes").create(body="plain", meta={"k": "v"})
    assert isinstance(made, dict)
    assert {"id", "user_id", "body", "stars", "tags", "meta", "created_at"} <= made.keys()
    assert made["meta"] == {"k": "v"}
    assert [row["body"] for row in me.table("notes").list(body="plain")] == ["plain"]


def test_an_id_the_sdk_cannot_make_must_be_given(env: Env) -> None:
    counters = env.client.table("counters", row=Counter)
    sent = env.sent()
    with pytest.raises(InvalidInputError, match="give each counters row its id"):
        counters.create(label="x")
    assert env.sent() == sent
    key = uuid.uuid4().int % 2**62
    assert counters.create(id=key, label="x") == Counter(id=key, label="x")
    # A retried insert (same id) is read back, not duplicated.
    assert counters.create(id=key, label="x").label == "x"
    assert counters.count(id=key) == 1


def test_bad_names_and_values_fail_before_any_request(env: Env) -> None:
    class BadColumn(BaseModel):
        id: uuid.UUID
        body: str = Field(alias="body; drop table notes")

    class NoId(BaseModel):
        body: str

    sent = env.sent()
    with pytest.raises(InvalidInputError, match="plain identifier") as bad_name:
        env.client.table("notes; drop table notes", row=Note)
    assert bad_name.value.field == "name"
    with pytest.raises(InvalidInputError, match="plain identifier"):
        env.client.table("notes", row=BadColumn)
    with pytest.raises(InvalidInputError, match="no id field"):
        env.client.table("notes", row=NoId)
    with pytest.raises(InvalidInputError, match="pydantic model class"):
        env.client.table("notes", row=dict)  # type: ignore[type-var]
    notes = env.client.table("notes", row=Note)
    with pytest.raises(InvalidInputError, match="no column 'colour'") as unknown:
        notes.create(body="x", colour="red")
    assert unknown.value.field == "colour"
    with pytest.raises(InvalidInputError, match="stars"):
        notes.create(body="x", stars="many")
    with pytest.raises(InvalidInputError, match="no column 'colour'"):
        notes.update(uuid.uuid4(), colour="red")
    with pytest.raises(InvalidInputError, match="id"):
        notes.get("not-a-uuid")
    with pytest.raises(InvalidInputError, match="no column"):
        notes.list(colour="red")
    with pytest.raises(InvalidInputError, match="unknown filter operator"):
        notes.count(stars__like=3)
    with pytest.raises(InvalidInputError, match="stars"):
        notes.count(stars__gt="three")
    with pytest.raises(InvalidInputError, match="no column 'colour'") as bad_order:
        notes.list(order="-colour")
    assert bad_order.value.field == "order"
    with pytest.raises(InvalidInputError, match="plain identifier"):
        env.client.table("notes").list(**{"body) or (1": 1})
    assert env.sent() == sent


@pytest.fixture(params=["postgres", "rest"])
async def aclient(
    request: pytest.FixtureRequest, db_url: str, router: respx.MockRouter, app_tables: None
) -> AsyncIterator[AsyncPhase3Client]:
    if request.param == "rest":
        client = AsyncPhase3Client(
            BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=FAST_RETRY
        )
    else:
        client = AsyncPhase3Client.connect(db_url, jwt_secret=JWT_SECRET, retry=FAST_RETRY, max_connections=2)
    async with client:
        yield client


async def test_the_async_client_has_the_same_table(aclient: AsyncPhase3Client, make_user: MakeUser) -> None:
    alice, bob = make_user(), make_user()
    notes = aclient.as_user(user_id=alice).table("notes", row=Note)
    made = await notes.create(body="async", stars=2)
    assert (await notes.get(made.id)).body == "async"
    assert [n.body async for n in notes.list(stars=2)] == ["async"]
    assert (await notes.page(10)).items == [made]
    assert await aclient.as_user(user_id=bob).table("notes", row=Note).count() == 0
    await notes.delete(made.id)
    assert await notes.count() == 0

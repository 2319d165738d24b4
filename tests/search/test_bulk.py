"""``conversations.bulk_create`` on the embedded database: validation before any write, RLS, idempotency,
the reused COPY stage, and the asyncio and REST flavours."""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import numpy as np
import pytest
from pydantic import TypeAdapter, ValidationError

from phase3_sdk import AsyncPhase3Client, Phase3Client
from phase3_sdk.embeddings import HashingEmbedder
from phase3_sdk.errors import InvalidInputError, Phase3Error
from phase3_sdk.models import Message
from phase3_sdk.models.memory import MessageDict
from support.postgrest_emulator import BASE_URL, PostgrestEmulator

MakeUser = Callable[..., uuid.UUID]
EMBED = HashingEmbedder()
T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def memory(text: str, **extra: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}], "embedding": EMBED.embed([text])[0], **extra}


@pytest.fixture(scope="module")
def root(db_url: str) -> Iterator[Phase3Client]:
    with Phase3Client.connect(db_url, max_connections=2) as client:
        yield client


def test_message_dict_has_the_fields_of_message() -> None:
    # bulk_create validates messages with MessageDict; create() with Message. They must agree.
    assert set(MessageDict.__annotations__) == set(Message.model_fields)
    # Which fields are required, as pydantic sees them (the annotations are strings at runtime).
    with pytest.raises(ValidationError) as err:
        TypeAdapter(MessageDict).validate_python({})
    assert {e["loc"][0] for e in err.value.errors()} == {
        n for n, f in Message.model_fields.items() if f.is_required()
    }


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"colour": "red"}, "rows[2].colour"),
        ({"valence": 3}, "rows[2].valence"),
        ({"salience_tier": "huge"}, "rows[2].salience_tier"),
        ({"messages": [{"role": "user"}]}, "rows[2].messages.0.content"),
        ({"messages": []}, "rows[2].messages"),
        ({"id": "not-a-uuid"}, "rows[2].id"),
        ({"embedding": [0.0] * 767}, "rows[2].embedding"),
        ({"embedding": [0.0] * 767 + [math.nan]}, "rows[2].embedding"),
        ({"embedding": [0.0] * 767 + [1e39]}, "rows[2].embedding"),  # finite, but not as float32
        ({"embedding": [[0.0] * 768]}, "rows[2].embedding"),
        ({"embedding": ["x"] * 768}, "rows[2].embedding"),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_written(
    root: Phase3Client, make_user: MakeUser, bad: dict[str, Any], field: str
) -> None:
    me = root.as_user(user_id=make_user())
    rows = [memory(f"fine {i}") for i in range(5)]
    rows[2] = {**rows[2], **bad}
    rows[4] = {**rows[4], "valence": 9}  # a later bad row in another batch is not the one reported
    with pytest.raises(InvalidInputError) as err:
        me.conversations.bulk_create(rows, batch_size=2)
    assert err.value.field == field
    assert field.split(".")[0] in str(err.value)
    assert me.conversations.count() == 0


def test_a_row_must_be_a_mapping(root: Phase3Client, make_user: MakeUser) -> None:
    me = root.as_user(user_id=make_user())
    with pytest.raises(InvalidInputError) as err:
        me.conversations.bulk_create([memory("fine"), ["not", "a", "row"]])  # type: ignore[list-item]
    assert err.value.field == "rows[1]"


def test_rows_go_in_as_the_caller(root: Phase3Client, make_user: MakeUser) -> None:
    mine, other = make_user(), make_user()
    me = root.as_user(user_id=mine)
    with pytest.raises(InvalidInputError) as err:
        me.conversations.bulk_create([memory("mine", user_id=str(mine)), memory("theirs", user_id=other)])
    assert err.value.field == "rows[1].user_id"
    assert me.conversations.count() == 0
    assert me.conversations.bulk_create([memory("mine", user_id=str(mine)), memory("also mine")]) == 2
    assert root.as_user(user_id=other).conversations.count() == 0


def test_messages_are_stored_as_create_stores_them(root: Phase3Client, make_user: MakeUser) -> None:
    me = root.as_user(user_id=make_user())
    messages = [
        {"role": "user", "content": "a", "timestamp": T0, "mood": "calm"},  # extra keys are kept
        {"role": "assistant", "content": "b"},
    ]
    me.conversations.bulk_create([{"messages": messages, "created_at": T0}])
    made = me.conversations.create(messages=messages, created_at=T0 + timedelta(days=1))
    bulk, single = me.conversations.list(order="created_at")
    assert bulk.messages == single.messages == made.messages
    assert bulk.messages[1]["timestamp"] is None
    assert datetime.fromisoformat(bulk.messages[0]["timestamp"]) == T0


def test_stage_is_reused_and_survives_a_failed_batch(root: Phase3Client, make_user: MakeUser) -> None:
    """Users of one role share a pooled connection's stage; another role gets its own; a batch that fails
    in the transaction that made the stage leaves nothing behind that breaks the next call."""
    nobody = uuid.uuid4()  # no such auth user: the foreign key fails the batch in the database
    with pytest.raises(Phase3Error):
        root.conversations.bulk_create([memory("orphan")], user_id=nobody)
    a, b = make_user(), make_user()
    for _ in range(3):
        assert root.as_user(user_id=a).conversations.bulk_create([memory("a1"), memory("a2")]) == 2
        assert root.as_user(user_id=b).conversations.bulk_create([memory("b1")]) == 1
        assert root.conversations.bulk_create([memory("s1")], user_id=a) == 1  # service role
    assert root.as_user(user_id=a).conversations.count() == 9
    assert root.as_user(user_id=b).conversations.count() == 3


def test_float32_rows_and_lists_store_the_same_vectors(root: Phase3Client, make_user: MakeUser) -> None:
    me = root.as_user(user_id=make_user())
    vectors = np.random.default_rng(5).normal(size=(6, 768)).astype(np.float32)
    rows: list[dict[str, Any]] = [
        {"id": uuid.uuid4(), "messages": [{"role": "user", "content": f"v{i}"}], "embedding": v}
        for i, v in enumerate(vectors)
    ]
    rows[1]["embedding"] = vectors[1].tolist()
    rows[2]["embedding"] = vectors[2].astype(np.float64)
    rows[3]["embedding"] = None
    del rows[4]["embedding"]
    assert me.conversations.bulk_create(rows, batch_size=4) == 6
    stored = {c.id: c for c in me.conversations.list(include_embedding=True)}
    for i in (0, 1, 2, 5):
        got = stored[rows[i]["id"]].embedding
        assert got is not None
        assert np.array_equal(np.asarray(got, dtype=np.float32), vectors[i])
    assert stored[rows[3]["id"]].embedding is None
    assert stored[rows[4]["id"]].embedding is None


async def test_async_bulk_create(db_url: str, make_user: MakeUser) -> None:
    async with AsyncPhase3Client.connect(db_url) as client:
        me = client.as_user(user_id=make_user())
        rows = [memory(f"async {i}", id=uuid.uuid4()) for i in range(7)]
        assert await me.conversations.bulk_create(rows, batch_size=3) == 7
        assert await me.conversations.bulk_create(rows, batch_size=5) == 7  # a re-run stores nothing twice
        assert await me.conversations.count() == 7
        with pytest.raises(InvalidInputError) as err:
            await me.conversations.bulk_create([memory("x", embedding=[1.0])])
        assert err.value.field == "rows[0].embedding"


JWT_SECRET = "phase3-test-jwt-secret-at-least-32-characters"


def _key(role: str) -> str:
    return jwt.encode(
        {"iss": "supabase", "role": role, "iat": 1700000000, "exp": 4102444800}, JWT_SECRET, "HS256"
    )


def test_rest_bulk_create_posts_batches(db_url: str, make_user: MakeUser) -> None:
    anon, service = _key("anon"), _key("service_role")
    emulator = PostgrestEmulator(db_url, jwt_secret=JWT_SECRET, anon_key=anon, service_key=service)
    try:
        with (
            emulator.mount() as router,
            Phase3Client(BASE_URL, service, anon_key=anon, jwt_secret=JWT_SECRET) as client,
        ):
            me = client.as_user(user_id=make_user())
            vectors = np.random.default_rng(9).normal(size=(5, 768)).astype(np.float32)
            rows = [
                {
                    "id": uuid.uuid4(),
                    "messages": [{"role": "user", "content": f"r{i}", "timestamp": T0}],
                    "embedding": v,
                }
                for i, v in enumerate(vectors)
            ]
            assert me.conversations.bulk_create(rows, batch_size=2) == 5
            assert len([c for c in router.calls if c.request.method == "POST"]) == 3
            assert me.conversations.bulk_create(rows, batch_size=5) == 5  # idempotent over REST too
            stored = {c.id: c for c in me.conversations.list(include_embedding=True)}
            assert len(stored) == 5
            got = stored[rows[3]["id"]]
            assert got.embedding is not None
            assert np.array_equal(np.asarray(got.embedding, dtype=np.float32), vectors[3])
            assert datetime.fromisoformat(got.messages[0]["timestamp"]) == T0
    finally:
        emulator.close()

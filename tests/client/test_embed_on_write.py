"""Memories written without an embedding are embedded with the client's embedder, or announced.

Before: ``bulk_create`` of rows without embeddings, then ``search.semantic`` returned ``[]`` with no word.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any
from uuid import UUID

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.embeddings import HashingEmbedder
from phase3_sdk.errors import ConfigurationError, MissingEmbeddingsWarning
from phase3_sdk.models import _memory_write
from support.backends import ANON_KEY, BASE_URL, FAST_RETRY, JWT_SECRET, SERVICE_KEY, Env


class CountingEmbedder:
    """HashingEmbedder that records each call's batch (to check batching and what text is embedded)."""

    dimension = 768

    def __init__(self) -> None:
        self.inner = HashingEmbedder()
        self.calls: list[list[str]] = []

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        self.calls.append(list(texts))
        return self.inner.embed(texts)


def memory(text: str, reply: str = "I hear you.") -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": reply}]}


def client_with(env: Env, embedder: Any) -> Phase3Client:
    if env.kind == "rest":
        return Phase3Client(
            BASE_URL,
            SERVICE_KEY,
            anon_key=ANON_KEY,
            jwt_secret=JWT_SECRET,
            retry=FAST_RETRY,
            embedder=embedder,
        )
    return Phase3Client.connect(env.db_url, jwt_secret=JWT_SECRET, retry=FAST_RETRY, embedder=embedder)


@pytest.fixture(autouse=True)
def fresh_warning_state() -> None:
    """The write warnings are shown once per process; each test starts from "not shown yet"."""
    _memory_write._warned_unembedded = False
    _memory_write._warned_cleared = False


def test_bulk_create_embeds_in_batches_and_semantic_search_finds_them(
    backend: Env, users: tuple[UUID, UUID]
) -> None:
    embedder = CountingEmbedder()
    with client_with(backend, embedder) as root:
        alice = root.as_user(user_id=users[0])
        rows = [memory(f"climbing the north ridge, day {i}") for i in range(5)]
        rows[2]["embedding"] = HashingEmbedder().embed(["given by the caller"])[0]
        with warnings.catch_warnings():
            warnings.simplefilter("error", MissingEmbeddingsWarning)
            assert alice.conversations.bulk_create(rows, batch_size=2) == 5
        # Batches of 2 rows; the row that brought its own embedding is not embedded again.
        assert embedder.calls == [
            ["climbing the north ridge, day 0\nI hear you.", "climbing the north ridge, day 1\nI hear you."],
            ["climbing the north ridge, day 3\nI hear you."],
            ["climbing the north ridge, day 4\nI hear you."],
        ]
        hits = alice.search.semantic("climbing the north ridge, day 3\nI hear you.", match_count=1)
        assert hits[0].text == "climbing the north ridge, day 3\nI hear you."
        assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)
        assert alice.conversations.count() == 5


def test_create_embeds_the_memory_text(backend: Env, users: tuple[UUID, UUID]) -> None:
    embedder = CountingEmbedder()
    with client_with(backend, embedder) as root:
        alice = root.as_user(user_id=users[1])
        stored = alice.conversations.create(**memory("a quiet walk by the river"))
        assert embedder.calls == [["a quiet walk by the river\nI hear you."]]
        (again,) = alice.conversations.list(include_embedding=True)
        assert again.id == stored.id
        assert again.embedding is not None
        assert again.embedding == pytest.approx(embedder.inner.embed([stored.text])[0], abs=1e-6)


def test_without_an_embedder_writes_warn_once_and_empty_search_says_why(backend: Env, make_user: Any) -> None:
    alice = backend.as_user(make_user())  # the fixture's client: no embedder configured
    with pytest.warns(MissingEmbeddingsWarning, match=r"3 memories stored without an embedding"):
        alice.conversations.bulk_create([memory(f"note {i}") for i in range(3)])
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingEmbeddingsWarning)
        alice.conversations.create(**memory("one more"))  # once per process: no second warning
    with pytest.warns(
        MissingEmbeddingsWarning, match=r"found nothing, and 4 of your memories have no embedding"
    ):
        assert alice.search.semantic("note") == []


def test_empty_search_with_every_memory_embedded_is_quiet(backend: Env, make_user: Any) -> None:
    with client_with(backend, HashingEmbedder()) as root:
        alice = root.as_user(user_id=make_user())
        alice.conversations.create(**memory("tea"))
        with warnings.catch_warnings():
            warnings.simplefilter("error", MissingEmbeddingsWarning)
            assert alice.search.semantic("tea\nI hear you.", threshold=0.999, match_count=1) != []
            assert alice.search.semantic([1.0] + [0.0] * 767, threshold=0.99) == []


def test_an_embedder_returning_the_wrong_width_stores_nothing(backend: Env, make_user: Any) -> None:
    class Narrow:
        dimension = 768

        def embed(self, texts: Sequence[str]) -> list[list[float]]:
            return [[0.1] * 384 for _ in texts]

    with client_with(backend, Narrow()) as root:
        alice = root.as_user(user_id=make_user())
        with pytest.raises(ConfigurationError, match="768"):
            alice.conversations.bulk_create([memory("x")])
        assert alice.conversations.count() == 0


def test_update_of_the_messages_embeds_the_new_text(backend: Env, make_user: Any) -> None:
    embedder = CountingEmbedder()
    with client_with(backend, embedder) as root:
        alice = root.as_user(user_id=make_user())
        stored = alice.conversations.create(**memory("planning the garden"))
        alice.conversations.update(stored.id, valence=0.5)  # not the text: nothing to embed
        assert embedder.calls == [["planning the garden\nI hear you."]]
        with warnings.catch_warnings():
            warnings.simplefilter("error", MissingEmbeddingsWarning)
            changed = alice.conversations.update(stored.id, **memory("fixing the bicycle", "Good luck."))
        assert embedder.calls[1:] == [["fixing the bicycle\nGood luck."]]
        assert changed.valence == 0.5
        (again,) = alice.conversations.list(include_embedding=True)
        assert again.embedding == pytest.approx(embedder.inner.embed([changed.text])[0], abs=1e-6)
        hits = alice.search.semantic("fixing the bicycle\nGood luck.", match_count=1)
        assert [h.id for h in hits] == [stored.id]
        assert hits[0].similarity == pytest.approx(1.0, abs=1e-5)


def test_update_of_the_messages_without_an_embedder_clears_the_stale_embedding(
    backend: Env, make_user: Any
) -> None:
    alice = backend.as_user(make_user())  # the fixture's client: no embedder configured
    old = HashingEmbedder().embed(["planning the garden\nI hear you."])[0]
    stored = alice.conversations.create(**memory("planning the garden"), embedding=old)
    assert alice.search.semantic(old, match_count=1) != []
    with pytest.warns(MissingEmbeddingsWarning, match="embedding was cleared"):
        alice.conversations.update(stored.id, **memory("fixing the bicycle"))
    (again,) = alice.conversations.list(include_embedding=True)
    assert again.embedding is None
    # The old vector no longer finds a memory that now says something else.
    with pytest.warns(MissingEmbeddingsWarning, match="1 of your memories have no embedding"):
        assert alice.search.semantic(old, match_count=1) == []
    # An embedding given with the new messages is stored as given, with no warning.
    new = HashingEmbedder().embed(["fixing the bicycle"])[0]
    with warnings.catch_warnings():
        warnings.simplefilter("error", MissingEmbeddingsWarning)
        alice.conversations.update(stored.id, **memory("fixing the bicycle"), embedding=new)
    (again,) = alice.conversations.list(include_embedding=True)
    assert again.embedding == pytest.approx(new, abs=1e-6)

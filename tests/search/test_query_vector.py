"""The query vector of a search goes to PostgreSQL in pgvector's binary form and to PostgREST as its text
form; either way the database ranks with the same float32 vector, so the hits are the same."""

from __future__ import annotations

import json
from typing import Any
from uuid import UUID

import numpy as np
import psycopg
import pytest

from phase3_sdk.backends import sql as q
from phase3_sdk.backends.base import VECTOR_CAST, Rpc
from phase3_sdk.embeddings import vector_text
from phase3_sdk.models import SearchHit
from support.backends import Env

RNG = np.random.default_rng(5)


def unit(n: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    x = RNG.normal(size=(n, 768)).astype(np.float32)
    scaled: np.ndarray[Any, np.dtype[np.float32]] = x / np.linalg.norm(x, axis=1, keepdims=True)
    return scaled


def search_as_text(client: Any, query: np.ndarray[Any, Any], **args: Any) -> list[SearchHit]:
    """``semantic_search`` called with the vector's text form, as the SDK sent it before."""
    rows = client._transport.rpc(
        Rpc(
            "semantic_search",
            {"query_embedding": vector_text(query), "match_count": 10, **args},
            casts={"query_embedding": VECTOR_CAST},
        ),
        idempotent=True,
    )
    for row in rows:
        row.pop("search_method")
    return [SearchHit.model_validate(r) for r in rows]


@pytest.fixture(scope="module")
def owner(backend: Env, make_user_module: UUID) -> Any:
    me = backend.as_user(make_user_module)
    if not me.conversations.count():
        me.conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": f"memory {i}"}], "embedding": v}
                for i, v in enumerate(unit(60))
            ]
        )
    return me


@pytest.fixture(scope="module")
def make_user_module(db_url: str) -> UUID:
    from phase3_sdk.db.embedded import create_auth_user

    return create_auth_user(db_url, "query-vector@example.test")


def test_a_float_query_finds_what_its_text_form_finds(owner: Any) -> None:
    for query in unit(5):
        hits = owner.search.semantic(query, match_count=10, threshold=None)
        assert len(hits) == 10
        as_text = search_as_text(owner, query)
        # The same float32 vector on the server: the same hits, similarities equal to the last bit.
        assert [(h.id, h.similarity) for h in hits] == [(h.id, h.similarity) for h in as_text]
        assert hits == as_text
        # A list of floats (rounded to float32 as the column does) is the same query.
        assert owner.search.semantic([float(x) for x in query], match_count=10, threshold=None) == hits


def test_filters_and_threshold_apply_to_a_float_query_as_to_text(owner: Any) -> None:
    query = unit(1)[0]
    hits = owner.search.semantic(query, match_count=50, threshold=0.0, exact=True)
    assert hits == search_as_text(owner, query, match_count=50, match_threshold=0.0, exact=True)
    assert all(h.similarity is not None and h.similarity >= 0.0 for h in hits)


def test_hybrid_with_an_embedding_matches_its_text_form(owner: Any) -> None:
    query = unit(1)[0]
    hits = owner.search.hybrid("memory", embedding=query, match_count=10)
    rows = owner._transport.rpc(
        Rpc(
            "hybrid_search",
            {"query_text": "memory", "query_embedding": vector_text(query), "match_count": 10},
            casts={"query_embedding": VECTOR_CAST},
        ),
        idempotent=True,
    )
    assert hits == [SearchHit.model_validate(r) for r in rows]


def test_rest_still_sends_the_text_form(backend: Env, owner: Any) -> None:
    if backend.kind != "rest":
        pytest.skip("the JSON body is the REST backend's")
    query = unit(1)[0]
    before = len(backend.router.calls)
    owner.search.semantic(query, match_count=3)
    body = json.loads(backend.requests()[before].content)
    assert body["query_embedding"] == vector_text(query)


def test_the_postgres_parameter_is_binary_and_reads_back_as_the_text_form(db_url: str) -> None:
    query = unit(1)[0]
    stmt, params = q.compile_rpc(
        Rpc(
            "semantic_search",
            {"query_embedding": query, "match_count": 3},
            casts={"query_embedding": VECTOR_CAST},
        )
    )
    assert isinstance(params[0], q.BinaryVector)
    assert b'"query_embedding" => %s::extensions.vector' in stmt
    # Text given for a vector stays text (the app's own code may call with pgvector's text form).
    _, params = q.compile_rpc(
        Rpc("semantic_search", {"query_embedding": "[1,2]"}, casts={"query_embedding": VECTOR_CAST})
    )
    assert params == ["[1,2]"]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.adapters.register_dumper(q.BinaryVector, q.BinaryVectorDumper)
        for value in (query, [0.1, -2.5, 3e-8], np.array([1e30, -0.0, 7.0], dtype=np.float64)):
            row = conn.execute(
                "select %s::extensions.vector::text, %s::extensions.vector::text",
                (q.BinaryVector.of(value), vector_text(value)),
            ).fetchone()
            assert row is not None
            assert row[0] == row[1]

"""A user who still has search cells from the earlier tuner is searched over ALL their memories.

Users below tune-search's threshold (5,000 memories) are ranked by the sketch scan; if cells left by the
earlier tuner still steered that scan, it would read only the cells nearest the query (recall@10 0.92 on real
text). 20260202001600_search_cells_retired.sql clears them, and since 20260202001700_search_rerank_once.sql
semantic_search no longer reads them at all. This file has a database of its own because that migration
clears every user's cells.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import psycopg

from phase3_sdk import Phase3Client
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import create_auth_user
from phase3_sdk.embeddings import vector_text

MIGRATION = next(
    m
    for m in migrator.discover(Path(__file__).resolve().parents[2] / "supabase" / "migrations")
    if m.path.name.endswith("_search_cells_retired.sql")
)
N = 2100  # above semantic_search's exact limit (2,000): the sketch path


def search(db_url: str, user: uuid.UUID, query: np.ndarray[Any, Any]) -> tuple[list[str], set[str]]:
    """The caller's top 10 (message texts) and how they were ranked."""
    with psycopg.connect(db_url) as conn:
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (json.dumps({"sub": str(user), "role": "authenticated"}),),
        )
        rows = conn.execute(
            "select messages->0->>'content', search_method"
            " from public.semantic_search(%s::extensions.vector, 10)",
            (vector_text(query),),
        ).fetchall()
    return [r[0] for r in rows], {r[1] for r in rows}


def test_old_cells_no_longer_hide_a_users_memories(db_url: str) -> None:
    rng = np.random.default_rng(3)
    query = rng.normal(size=768)
    query /= np.linalg.norm(query)
    filler = rng.normal(size=(N, 768))
    planted = query + rng.normal(scale=0.03, size=(10, 768))
    vectors = np.concatenate([filler, planted])
    vectors = (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)
    user = create_auth_user(db_url, "celled@example.test")
    with Phase3Client.connect(db_url) as root:
        root.as_user(user_id=user).conversations.bulk_create(
            [
                {"messages": [{"role": "user", "content": f"m{i}"}], "embedding": v}
                for i, v in enumerate(vectors)
            ],
            batch_size=1500,
        )
    truth = [f"m{i}" for i in np.argsort(-(vectors @ query))[:10]]
    assert set(truth) == {f"m{N + j}" for j in range(10)}
    # What the earlier tuner left: cell 0 holds the filler, its centroid the query itself; cell 1 holds the
    # planted memories, its centroid far away. A search reads the nearest cells until they hold enough.
    with psycopg.connect(db_url, autocommit=True) as conn:
        for cell, centroid, members in ((0, query, N), (1, -query, 10)):
            conn.execute(
                "insert into public.memory_search_cells (user_id, cell, centroid, members)"
                " values (%s, %s, %s::extensions.vector, %s)",
                (user, cell, vector_text(centroid), members),
            )
        conn.execute(
            "update public.conversations set search_cell = case when messages->0->>'content' = any(%s)"
            " then 1 else 0 end where user_id = %s",
            (truth, user),
        )
        conn.execute("vacuum analyze public.conversations")
        updated_before = conn.execute(
            "select max(updated_at) from public.conversations where user_id = %s", (user,)
        ).fetchone()
    hits, how = search(db_url, user, query)
    assert how == {"sketch"}
    # The cells would steer a scan that read them away from every true neighbour: this one reads them not.
    assert hits == truth

    migrator.apply_again(db_url, [MIGRATION])

    hits, how = search(db_url, user, query)
    assert how == {"sketch"}
    assert hits == truth
    with psycopg.connect(db_url) as conn:
        assert conn.execute("select count(*) from public.memory_search_cells").fetchone() == (0,)
        assert conn.execute(
            "select count(*) from public.conversations where search_cell <> -1"
        ).fetchone() == (0,)
        # Moving memories out of cells is upkeep, not an edit of them.
        assert (
            conn.execute(
                "select max(updated_at) from public.conversations where user_id = %s", (user,)
            ).fetchone()
            == updated_before
        )

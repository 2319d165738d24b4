"""A late keyset page costs what an early one costs: its plan starts at the cursor.

The page query (``phase3_sdk.schema.query.page_query``) carries the redundant bound ``created_at <= x``
beside the keyset ``or``, and ``20260202001400_keyset_indexes.sql`` indexes (user_id, created_at desc,
id desc). ``explain analyze`` of a page at position 5,000, run as the user exactly as both backends run
it (PostgREST and the Postgres backend both turn the filters into one ``where``), must not read and discard
the rows before the cursor.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from phase3_sdk import Phase3Client
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends.sql import compile_select
from phase3_sdk.schema.query import encode_cursor, page_query, parse_order
from phase3_sdk.schema.tables import CONVERSATIONS

TOTAL = 6000
POSITION = 5000
PAGE = 100


@pytest.fixture(scope="module")
def late_cursor(db_url: str) -> tuple[uuid.UUID, str, list[Any]]:
    """A user with 6,000 memories (one a second) beside another user's 3,000; the cursor after row 5,000."""
    from phase3_sdk.db.embedded import create_auth_user

    me = create_auth_user(db_url, f"plan-{uuid.uuid4().hex[:8]}@example.test", None)
    other = create_auth_user(db_url, f"plan-{uuid.uuid4().hex[:8]}@example.test", None)
    start = datetime(2026, 1, 1, tzinfo=UTC)

    def rows(n: int) -> list[dict[str, Any]]:
        return [
            {"messages": [{"role": "user", "content": f"m{i}"}], "created_at": start + timedelta(seconds=i)}
            for i in range(n)
        ]

    with Phase3Client.connect(db_url, max_connections=2) as client:
        svc = client.service()
        svc.conversations.bulk_create(rows(TOTAL), user_id=me)
        svc.conversations.bulk_create(rows(3000), user_id=other)
        mine = client.as_user(user_id=me)
        order = parse_order(CONVERSATIONS, None)
        ids = [m for _, m in zip(range(POSITION), mine.conversations.list(page_size=1000), strict=False)]
        cursor = encode_cursor(order, {"created_at": ids[-1].created_at, "id": ids[-1].id})
        expected = [m.id for m in mine.conversations.page(page_size=PAGE, cursor=cursor).items]
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("analyze public.conversations")
    return me, cursor, expected


def _plan_nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _plan_nodes(child)


def _explain(db_url: str, user: uuid.UUID, stmt: Any, params: list[Any]) -> dict[str, Any]:
    claims = json.dumps({"sub": str(user), "role": "authenticated"})
    with psycopg.connect(db_url, row_factory=dict_row) as conn, conn.transaction():
        conn.execute(
            "select set_config('role', 'authenticated', true), set_config('request.jwt.claims', %s, true)",
            (claims,),
        )
        row = conn.execute(psycopg.sql.SQL("explain (analyze, format json) ") + stmt, params).fetchone()
    assert row is not None
    plan: dict[str, Any] = row["QUERY PLAN"][0]["Plan"]
    return plan


def test_a_late_page_does_not_read_the_rows_before_its_cursor(
    db_url: str, late_cursor: tuple[uuid.UUID, str, list[Any]]
) -> None:
    user, cursor, expected = late_cursor
    order = parse_order(CONVERSATIONS, None)
    query = page_query(CONVERSATIONS, (), order, PAGE, cursor)
    stmt, params = compile_select(query)
    plan = _explain(db_url, user, stmt, params)
    nodes = list(_plan_nodes(plan))
    removed = sum(n.get("Rows Removed by Filter", 0) for n in nodes)
    read = max(n.get("Actual Rows", 0) for n in nodes)
    # The rows before the cursor are never read: nothing is discarded but ties of the cursor's own
    # created_at (none here), and no node reads more than the rows after the cursor. (Which plan the
    # planner picks, an ordered index scan that stops after the page or a bitmap scan of the 1,000 rows
    # left and a top-N sort, depends on its statistics; both start at the cursor. Without the bound the
    # index scan starts at the newest row and discards 5,000.)
    assert removed <= PAGE, f"the page discarded {removed} rows before its cursor: {nodes}"
    assert read <= TOTAL - POSITION + 1
    assert len(expected) == PAGE


def test_the_rest_page_sends_the_same_bound(late_cursor: tuple[uuid.UUID, str, list[Any]]) -> None:
    _, cursor, _ = late_cursor
    query = page_query(CONVERSATIONS, (), parse_order(CONVERSATIONS, None), PAGE, cursor, max_rows=1000)
    params = pt.select_request(query).params
    bound = [v for k, v in params if k == "created_at"]
    assert len(bound) == 1
    assert bound[0].startswith("lte.2026-01-01T00:16:40")
    assert any(k == "or" for k, _ in params)


def test_ascending_pages_get_the_lower_bound() -> None:
    order = parse_order(CONVERSATIONS, "created_at")
    cursor = encode_cursor(order, {"created_at": datetime(2026, 1, 1, tzinfo=UTC), "id": uuid.uuid4()})
    query = page_query(CONVERSATIONS, (), order, PAGE, cursor)
    assert [(f.column, f.op) for f in query.filters] == [("created_at", "gte")]

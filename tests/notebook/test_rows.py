"""``list()`` results in a notebook: a lazy ``Rows`` that reads each page once, displays as a table, turns
into a DataFrame, and ``columns=`` reads only what is named. On both backends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pandas as pd
import pytest

from phase3_sdk import InvalidInputError, Rows
from phase3_sdk.models import Pattern
from support.backends import Env


def _tools(env: Env, n: int) -> Any:
    me = env.as_user(env_user(env))
    for i in range(n):
        me.tools.create(
            name=f"tool_{i}",
            description=f"tool number {i}",
            parameters={"type": "object"},
            code="return params;",
        )
    return me


def env_user(env: Env) -> uuid.UUID:
    from phase3_sdk.db.embedded import create_auth_user

    return create_auth_user(env.db_url, f"rows-{uuid.uuid4().hex[:8]}@example.com")


def _counting(client: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the selects (pages) the client's resources send."""
    calls = [0]
    transport = type(client._transport)
    select = transport.select

    def counted(self: Any, query: Any) -> Any:
        calls[0] += 1
        return select(self, query)

    monkeypatch.setattr(transport, "select", counted)
    return calls


def test_list_is_lazy_and_reads_each_page_once(backend: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    me = _tools(backend, 5)
    pages = _counting(me, monkeypatch)
    rows = me.tools.list(page_size=2, order="name")
    assert isinstance(rows, Rows)
    assert pages[0] == 0  # nothing read until used
    first = next(iter(rows))
    assert first.name == "tool_0"
    assert pages[0] == 1  # one page
    names = [t.name for t in list(rows)]  # list() asks len() too: still one pass over the pages
    assert names == [f"tool_{i}" for i in range(5)]
    assert len(rows) == 5
    assert rows[4].name == "tool_4"
    assert pages[0] == 3  # pages of 2, 2 and 1, each read once
    assert [t.name for t in rows.stream()] == names  # stream() reads afresh
    assert pages[0] == 6


def test_rows_display_as_an_html_table_and_become_a_dataframe(backend: Env) -> None:
    me = _tools(backend, 3)
    rows = me.tools.list(order="name")
    html = rows._repr_html_()
    assert html.startswith('<table class="phase3-rows"><caption>custom_tools: 3 rows</caption>')
    assert "<td>tool_2</td>" in html
    text = rows.to_text()
    assert text.splitlines()[0] == "custom_tools: 3 rows"
    frame = rows.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    assert list(frame["name"]) == ["tool_0", "tool_1", "tool_2"]
    assert "user_id" in frame.columns  # hidden in the table, kept in the frame
    assert "user_id" not in rows._repr_html_()


def test_columns_reads_only_the_named_columns_as_dicts(backend: Env) -> None:
    me = _tools(backend, 3)
    rows = me.tools.list(columns=["name", "usage_count"], order="-name", page_size=2)
    assert list(rows) == [
        {"name": "tool_2", "usage_count": 0},
        {"name": "tool_1", "usage_count": 0},
        {"name": "tool_0", "usage_count": 0},
    ]
    html = rows._repr_html_()
    assert "<th>name</th><th>usage_count</th></tr>" in html
    assert list(rows.to_pandas().columns) == ["name", "usage_count"]


def test_an_unknown_column_is_refused_before_any_request(backend: Env) -> None:
    me = backend.as_user(env_user(backend))
    before = backend.sent()
    with pytest.raises(InvalidInputError, match="custom_tools has no column 'nmae'") as err:
        me.tools.list(columns=["nmae"])
    assert err.value.field == "columns"
    with pytest.raises(InvalidInputError, match="non-empty list"):
        me.tools.list(columns="name")
    assert backend.sent() == before


def test_a_pattern_repr_summarises_its_evidence_ids() -> None:
    now = datetime.now(UTC)
    ids = [str(uuid.uuid4()) for _ in range(40)]
    pattern = Pattern(
        id=uuid.uuid4(),
        user_id=uuid.uuid4(),
        pattern_type="recurring_emotion",
        layer=2,
        description="anxiety comes back on Mondays",
        evidence={"memory_ids": ids, "memory_count": 40, "series": [0.5] * 30},
        confidence=0.8,
        first_detected=now,
        last_observed=now,
        created_at=now,
        updated_at=now,
    )
    shown = repr(pattern)
    assert "'memory_ids': <40 ids>" in shown
    assert "'series': <30 floats>" in shown
    assert not any(i in shown for i in ids)
    assert pattern.evidence["memory_ids"] == ids  # the value itself is untouched


async def test_async_list_streams_with_async_for_and_collects_into_rows(db_url: str, make_user: Any) -> None:
    from phase3_sdk import AsyncPhase3Client, AsyncRows

    async with AsyncPhase3Client.connect(db_url, max_connections=2) as client:
        me = client.as_user(user_id=make_user())
        for i in range(3):
            await me.tools.create(name=f"a_{i}", code="return params;")
        rows = me.tools.list(order="name", page_size=2)
        assert isinstance(rows, AsyncRows)
        assert [t.name async for t in rows] == ["a_0", "a_1", "a_2"]
        held = await rows.collect()
        assert isinstance(held, Rows)
        assert "<td>a_2</td>" in held._repr_html_()
        named = await me.tools.list(columns=["name"], order="name").collect()
        assert list(named) == [{"name": "a_0"}, {"name": "a_1"}, {"name": "a_2"}]

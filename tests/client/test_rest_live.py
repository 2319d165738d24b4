"""Issue 13's REST fixes against a real Supabase project (opt-in: the same variables as test_live.py).

Confirms on a real PostgREST what tests/client/test_rest_paging.py shows against the strict mock: lists and
pages survive the project's max-rows (1000 unless changed: pass ``PHASE3_LIVE_MAX_ROWS`` if yours differs),
keyset cursors over names with ``{`` parse, and a re-import's read-back of 2,000 existing ids works.
Retry-After 0, permanent 500s and the 300 of an ambiguous function need a server in that state (a schema
cache reload, a broken policy, an overloaded function), which a client cannot cause; they are pinned by
tests/client/test_rest_retry_rules.py from PostgREST's source.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.backends.base import Delete, Filter

NEEDED = (
    "SUPABASE_URL",
    "SUPABASE_ANON_KEY",
    "SUPABASE_SERVICE_ROLE_KEY",
    "SUPABASE_JWT_SECRET",
    "PHASE3_LIVE_USER_ID",
)

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(not all(os.environ.get(n) for n in NEEDED), reason="live: set " + ", ".join(NEEDED)),
]


@pytest.fixture(scope="module")
def live() -> Iterator[Phase3Client]:
    client = Phase3Client(
        os.environ["SUPABASE_URL"],
        os.environ["SUPABASE_SERVICE_ROLE_KEY"],
        anon_key=os.environ["SUPABASE_ANON_KEY"],
        jwt_secret=os.environ["SUPABASE_JWT_SECRET"],
        max_rows=int(os.environ.get("PHASE3_LIVE_MAX_ROWS", "1000")),
    )
    yield client
    client.close()


@pytest.fixture
def tagged(live: Phase3Client) -> Iterator[str]:
    """An instance_key for this test's memories, all deleted afterwards in one request."""
    tag = f"live-{uuid.uuid4().hex[:10]}"
    yield tag
    live.service()._transport.delete(Delete("conversations", (Filter("instance_key", "eq", tag),)))


def _memories(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"id": uuid.uuid4(), "messages": [{"role": "user", "content": f"{i}"}], "instance_key": tag}
        for i in range(n)
    ]


def test_live_list_and_page_read_every_row_behind_max_rows(live: Phase3Client, tagged: str) -> None:
    uid = os.environ["PHASE3_LIVE_USER_ID"]
    assert live.service().conversations.bulk_create(_memories(2500, tagged), user_id=uid) == 2500
    me = live.as_user(user_id=uid)
    assert sum(1 for _ in me.conversations.list(page_size=1000, instance_key=tagged)) == 2500
    page = me.conversations.page(page_size=1000, instance_key=tagged)
    assert page.next_cursor is not None


def test_live_reimport_reads_back_2000_existing_ids(live: Phase3Client, tagged: str) -> None:
    uid = os.environ["PHASE3_LIVE_USER_ID"]
    rows = _memories(2000, tagged)
    svc = live.service()
    assert svc.conversations.bulk_create(rows, user_id=uid, batch_size=2000) == 2000
    assert svc.conversations.bulk_create(rows, user_id=uid, batch_size=2000) == 2000


def test_live_pages_by_names_starting_with_a_brace(live: Phase3Client) -> None:
    me = live.as_user(user_id=os.environ["PHASE3_LIVE_USER_ID"])
    tag = uuid.uuid4().hex[:8]
    names = [f"{{x}}y-{tag}", f"{{x}}z-{tag}", f"{{a}}-{tag}"]
    tools = [me.tools.create(name=n, code="return 1;") for n in names]
    try:
        seen: list[str] = []
        cursor = None
        for _ in range(500):
            page = me.tools.page(page_size=1, cursor=cursor, order="name")
            seen += [t.name for t in page.items if t.name.endswith(tag)]
            cursor = page.next_cursor
            if cursor is None or len(seen) == len(names):
                break
        assert seen == sorted(names)
    finally:
        for tool in tools:
            me.tools.delete(tool.id)

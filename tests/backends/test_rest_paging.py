"""The REST path against PostgREST as it really behaves: max-rows, the logic-tree grammar, 8 KB URLs.

The server here is the emulator (the real database behind it) wrapped in three behaviours taken from
PostgREST's source, each applied strictly:

* ``db-max-rows``: every read answers at most ``max_rows`` rows with 200 and ``Content-Range: 0-<n-1>/*``,
  whatever ``limit`` asked (``src/library/PostgREST/Plan.hs``, ``treeRestrictRange``; spec
  ``test/spec/Feature/Query/QueryLimitedSpec.hs``, "restricts results"). Supabase's default is 1000.
* the ``or=(...)`` grammar of ``src/library/PostgREST/ApiRequest/QueryParams.hs`` (``pLogicTree``,
  ``pLogicSingleVal``, ``pQuotedValue``), re-implemented below: a value that starts with ``{`` is read as
  an array literal up to the first ``}``, and a parse failure is 400 ``PGRST100`` (``Error.hs``).
* a URL over 8 KB is refused with 414, as gateways in front of PostgREST do.
"""

from __future__ import annotations

import json
import random
import string
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import respx

from phase3_sdk import Phase3Client
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends.base import Keyset, Order
from support.backends import ANON_KEY, BASE_URL, FAST_RETRY, JWT_SECRET, SERVICE_KEY, PostgrestEmulator

# -- PostgREST's logic-tree grammar (QueryParams.hs), written for these tests -----------------------------


class GrammarError(ValueError):
    """The request would be a 400 PGRST100 on PostgREST."""


_OPERATORS = ("isdistinct", "neq", "gte", "lte", "eq", "gt", "lt", "like", "ilike", "is")


def _ws(text: str, i: int) -> int:
    # ``lexeme`` (QueryParams.hs) skips spaces around '(' ',' ')' and field names.
    while i < len(text) and text[i].isspace():
        i += 1
    return i


def _quoted(text: str, i: int) -> tuple[str, int] | None:
    # pQuotedValue: '"' (noneOf "\\\"" | '\\' anyChar)* '"'
    if i >= len(text) or text[i] != '"':
        return None
    out: list[str] = []
    i += 1
    while i < len(text):
        c = text[i]
        if c == "\\" and i + 1 < len(text):
            out.append(text[i + 1])
            i += 2
        elif c == '"':
            return "".join(out), i + 1
        else:
            out.append(c)
            i += 1
    return None


def _logic_single_val(text: str, i: int) -> tuple[str, int]:
    # pLogicSingleVal = try (pQuotedValue <* notFollowedBy (noneOf ",)")) <|> try pPgArray
    #                   <|> many (noneOf ",)")
    quoted = _quoted(text, i)
    if quoted is not None and (quoted[1] == len(text) or text[quoted[1]] in ",)"):
        return quoted
    if i < len(text) and text[i] == "{":
        end = i + 1
        while end < len(text) and text[end] not in "{}":
            end += 1
        if end < len(text) and text[end] == "}":
            return text[i : end + 1], end + 1
    end = i
    while end < len(text) and text[end] not in ",)":
        end += 1
    return text[i:end], end


def _filter(text: str, i: int) -> tuple[tuple[Any, ...], int]:
    # pLogicFilter = Filter <$> pField <* pDelimiter <*> pOpExpr pLogicSingleVal
    i = _ws(text, i)
    start = i
    while i < len(text) and (text[i].isalnum() or text[i] in "_ $"):
        i += 1
    field = text[start:i].strip()
    if not field or i >= len(text) or text[i] != ".":
        raise GrammarError(f"expected a field and '.' at {start}")
    i += 1
    negated = text.startswith("not.", i)
    if negated:
        i += 4
    for op in _OPERATORS:
        if text.startswith(op + ".", i):
            value, i = _logic_single_val(text, i + len(op) + 1)
            return ("filter", field, ("not." if negated else "") + op, value), i
    raise GrammarError(f"expecting operator (eq, gt, ...) at {i}")


def _tree(text: str, i: int) -> tuple[tuple[Any, ...], int]:
    # pLogicTree = Stmnt <$> try pLogicFilter <|> Expr <$> pNot <*> pLogicOp <*> ( '(' tree sepBy1 ',' ')' )
    try:
        return _filter(text, i)
    except GrammarError:
        pass
    negated = text.startswith("not.", i)
    if negated:
        i += 4
    if text.startswith("and", i):
        op, i = "and", i + 3
    elif text.startswith("or", i):
        op, i = "or", i + 2
    else:
        raise GrammarError(f"expecting logic operator (and, or) at {i}")
    i = _ws(text, i)
    if i >= len(text) or text[i] != "(":
        raise GrammarError(f'expecting "(" at {i}')
    children = []
    i = _ws(text, i + 1)
    while True:
        child, i = _tree(text, i)
        children.append(child)
        i = _ws(text, i)
        if i < len(text) and text[i] == ",":
            i = _ws(text, i + 1)
            continue
        break
    if i >= len(text) or text[i] != ")":
        raise GrammarError(f'unexpected {text[i : i + 1]!r} at {i}, expecting "," or ")"')
    return (op, negated, children), _ws(text, i + 1)


def parse_logic(key: str, value: str) -> tuple[Any, ...]:
    """``or=(...)`` as PostgREST parses it (it concatenates the key and the value first: App.hs)."""
    text = key + value
    tree, end = _tree(text, 0)
    if end != len(text):
        raise GrammarError(f"unexpected {text[end : end + 1]!r} at {end}")
    return tree


# -- a strict server: the emulator behind max-rows, the grammar and the 8 KB limit --------------------------


class StrictServer:
    def __init__(self, emulator: PostgrestEmulator, max_rows: int) -> None:
        self.emulator = emulator
        self.max_rows = max_rows
        self.requests: list[httpx.Request] = []
        self.capped = 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(str(request.url)) > pt.MAX_URL_BYTES:
            return httpx.Response(414, text="<html><body>414 Request-URI Too Large</body></html>")
        for key, value in request.url.params.multi_items():
            if key in ("or", "and"):
                try:
                    parse_logic(key, value)
                except GrammarError as exc:
                    body = {
                        "code": "PGRST100",
                        "details": str(exc),
                        "hint": None,
                        "message": f'"failed to parse logic tree ({value})" (line 1, column 1)',
                    }
                    return httpx.Response(400, json=body)
        response = self.emulator.handle(request)
        if request.method == "GET" and response.status_code == 200 and "/rpc/" not in request.url.path:
            rows = json.loads(response.content)
            if len(rows) > self.max_rows:
                self.capped += 1
                rows = rows[: self.max_rows]
                headers = {"Content-Type": "application/json", "Content-Range": f"0-{len(rows) - 1}/*"}
                return httpx.Response(200, content=json.dumps(rows).encode(), headers=headers)
        return response


@pytest.fixture
def strict(emulator: PostgrestEmulator) -> Iterator[Callable[[int], StrictServer]]:
    servers: list[StrictServer] = []
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:

        def make(max_rows: int = 1000) -> StrictServer:
            server = StrictServer(emulator, max_rows)
            servers.append(server)
            router.route().mock(side_effect=server.handle)
            return server

        yield make


def _client(**kwargs: Any) -> Phase3Client:
    return Phase3Client(
        BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET, retry=FAST_RETRY, **kwargs
    )


def _memories(n: int, tag: str) -> list[dict[str, Any]]:
    return [
        {"id": uuid.uuid4(), "messages": [{"role": "user", "content": f"{tag} {i}"}], "instance_key": tag}
        for i in range(n)
    ]


# -- 1. rows behind max-rows ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many(emulator: PostgrestEmulator, db_url: str) -> tuple[uuid.UUID, list[dict[str, Any]]]:
    """One user with 2,500 memories (written straight through the emulator, no cap on writes)."""
    from phase3_sdk.db.embedded import create_auth_user

    uid = create_auth_user(db_url, f"many-{uuid.uuid4().hex[:8]}@example.test", None)
    rows = _memories(2500, "many")
    with emulator.mount():
        assert _client().service().conversations.bulk_create(rows, user_id=uid, batch_size=1000) == 2500
    return uid, rows


def test_list_with_page_size_1000_reads_all_2500_rows_behind_max_rows(strict, many) -> None:
    uid, rows = many
    server = strict(1000)
    me = _client().as_user(user_id=uid)
    seen = [m.id for m in me.conversations.list(page_size=1000, instance_key="many")]
    assert len(seen) == 2500
    assert set(seen) == {r["id"] for r in rows}
    # No request asked for more than the server gives, so none was cut: 1000 + 1000 + 500.
    assert all(int(r.url.params["limit"]) <= 1000 for r in server.requests)
    assert server.capped == 0


def test_page_of_1000_has_a_next_cursor_when_more_rows_exist(strict, many) -> None:
    uid, _ = many
    strict(1000)
    me = _client().as_user(user_id=uid)
    first = me.conversations.page(page_size=1000, instance_key="many")
    assert len(first.items) == 1000
    assert first.next_cursor is not None
    second = me.conversations.page(page_size=1000, cursor=first.next_cursor, instance_key="many")
    third = me.conversations.page(page_size=1000, cursor=second.next_cursor, instance_key="many")
    assert (len(second.items), len(third.items), third.next_cursor) == (1000, 500, None)
    assert len({m.id for m in first.items + second.items + third.items}) == 2500


def test_a_project_with_a_lower_max_rows_still_lists_everything(strict, many) -> None:
    """A project whose max-rows is 300 tells the client so; default page sizes then never lose rows."""
    uid, _ = many
    server = strict(300)
    me = _client(max_rows=300).as_user(user_id=uid)
    assert sum(1 for _ in me.conversations.list(instance_key="many")) == 2500
    assert server.capped == 0
    page = me.conversations.page(page_size=500, instance_key="many")
    assert len(page.items) == 300
    assert page.next_cursor is not None


def test_a_full_last_page_costs_one_empty_read_not_a_lost_row(strict, many) -> None:
    uid, _ = many
    server = strict(1000)
    me = _client().as_user(user_id=uid)
    assert sum(1 for _ in me.conversations.list(page_size=500, limit=2000, instance_key="many")) == 2000
    assert sum(1 for _ in me.conversations.list(page_size=1000, instance_key="many")) == 2500
    # 2500 rows in pages of 1000: 1000, 1000, 500 (short: the end). No fourth request.
    assert len(server.requests) == 4 + 3


# -- 2. keyset cursors that the grammar parses back to the same values -------------------------------------

TRICKY = [
    "{x}y",
    "{a}",
    "{",
    "}",
    "a,b",
    '"q"',
    "back\\slash",
    " lead",
    "trail ",
    "(p)",
    "x.y:z",
    "",
    "{}{}",
    "é ✓",
]


@pytest.mark.parametrize("value", TRICKY)
def test_keyset_values_parse_back_to_themselves(value: str) -> None:
    order = (Order("name", False), Order("id", False))
    key, text = pt.keyset_param(order, Keyset((value, "00000000-0000-0000-0000-000000000001")))
    tree = parse_logic(key, text)
    first, second = tree[2]
    assert first == ("filter", "name", "gt", value)
    assert second[2][0] == ("filter", "name", "eq", value)


def _random_texts(n: int) -> Iterator[str]:
    # Reserved characters of the grammar, whitespace and a spread of unicode (no NUL, no lone surrogates:
    # PostgreSQL text holds neither), in strings of 0-12 characters; seeded, so a failure replays.
    rng = random.Random(13)
    alphabet = [*list(',.:()"\\{}[] \t\nabcXYZ019-+*%'), "é", "ß", "✓", "中", "😀", "\u200b"]
    for _ in range(n):
        yield "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))


def test_any_text_in_a_keyset_parses_back_to_itself() -> None:
    order = (Order("name", True), Order("id", True))
    for value in _random_texts(3000):
        key, text = pt.keyset_param(order, Keyset((value, "id-1")))
        first, second = parse_logic(key, text)[2]
        assert first == ("filter", "name", "lt", value)
        assert second[2] == [("filter", "name", "eq", value), ("filter", "id", "lt", "id-1")]


def test_pages_ordered_by_names_with_reserved_characters_all_arrive(strict, make_user) -> None:
    server = strict(1000)
    me = _client().as_user(user_id=make_user())
    names = ["{x}y", "{a}b", "a,b", '"q"', "back\\slash", " lead", "(p)", "x.y:z", "{}{}", "plain"]
    for name in names:
        me.tools.create(name=name, code="return 1;")
    got: list[str] = []
    cursor = None
    while True:
        page = me.tools.page(page_size=1, cursor=cursor, order="name")
        got += [t.name for t in page.items]
        cursor = page.next_cursor
        if cursor is None:
            break
    assert got == sorted(names)
    assert all(
        r.url.params.get("or") is None or parse_logic("or", r.url.params["or"]) for r in server.requests
    )


def test_a_nul_in_a_filter_value_is_refused_before_the_network(strict, make_user) -> None:
    from phase3_sdk import InvalidInputError

    server = strict(1000)
    me = _client().as_user(user_id=make_user())
    with pytest.raises(InvalidInputError) as err:
        me.conversations.page(instance_key="a\x00b")
    assert err.value.field == "instance_key"
    assert server.requests == []


# -- 6. re-imports whose read-back stays under 8 KB and max-rows --------------------------------------------


def test_reimport_of_2000_existing_ids_counts_every_row(strict, make_user) -> None:
    server = strict(1000)
    uid = make_user()
    rows = _memories(2000, "reimport")
    svc = _client().service()
    assert svc.conversations.bulk_create(rows, user_id=uid, batch_size=2000) == 2000
    server.requests.clear()
    # The same ids again: nothing is inserted, every row is read back as already stored.
    assert svc.conversations.bulk_create(rows, user_id=uid, batch_size=2000) == 2000
    reads = [r for r in server.requests if r.method == "GET"]
    assert len(reads) >= 3  # 2000 ids in runs of at most 1000 ids and 8 KB
    assert all(len(str(r.url)) <= pt.MAX_URL_BYTES for r in server.requests)
    assert server.capped == 0


def test_readback_runs_respect_the_url_budget_and_max_rows() -> None:
    ids = [uuid.uuid4() for _ in range(5000)]
    requests = pt.readback_requests("conversations", ids, ("id",), max_rows=1000)
    sent = [str(httpx.URL(BASE_URL + r.path, params=tuple(r.params))) for r in requests]
    assert all(len(url) <= pt.QUERY_BUDGET + len(BASE_URL) + 40 for url in sent)
    back = [v for r in requests for v in r.params[1][1][4:-1].split(",")]
    assert back == [str(i) for i in ids]
    long_names = ["n" * 700 + c for c in string.ascii_letters]
    runs = pt.chunk_in_list(long_names, 0, most=1000)
    assert sum(len(r) for r in runs) == len(long_names)
    assert len(runs) > 1


def test_the_cursor_bound_and_a_since_filter_on_the_same_column_both_apply(strict, make_user) -> None:
    """Two filters on created_at in one query string (``created_at=gte...&created_at=lte...``): PostgREST
    ANDs repeated filters on one column (QueryParams.hs keeps every filter parameter in one list)."""
    from datetime import UTC, datetime, timedelta

    server = strict(1000)
    uid = make_user()
    start = datetime(2026, 3, 1, tzinfo=UTC)
    rows = [
        {"messages": [{"role": "user", "content": str(i)}], "created_at": start + timedelta(minutes=i)}
        for i in range(30)
    ]
    svc = _client().service()
    assert svc.conversations.bulk_create(rows, user_id=uid) == 30
    me = _client().as_user(user_id=uid)
    since, until = start + timedelta(minutes=5), start + timedelta(minutes=25)
    got = [m.created_at for m in me.conversations.list(page_size=3, since=since, until=until)]
    assert got == [start + timedelta(minutes=i) for i in range(24, 4, -1)]
    late = [r for r in server.requests if r.method == "GET" and "or" in r.url.params]
    assert late
    assert all(len(r.url.params.get_list("created_at")) == 3 for r in late)


def test_a_skill_name_resolves_to_the_callers_own_behind_max_rows(strict, make_user) -> None:
    """More public skills share the name than max-rows lets through: the caller's own still wins, and
    another caller gets the oldest public one."""
    strict(3)
    svc = _client().service()
    author = svc.as_user(user_id=make_user())
    author.tools.create(name="shared-double", code="return { result: 2 };", visibility="public")
    steps = [{"stepId": "s", "toolName": "shared-double", "inputMapping": {}}]
    # An unordered read by name comes back in user_id order here (the planner reads the skills through
    # the (user_id, name) index), so the caller and the author of the oldest public skill get the two
    # largest user ids: a read cut at 3 rows holds neither.
    ids = sorted(make_user() for _ in range(6))
    me = svc.as_user(user_id=ids[-1])
    owners = [svc.as_user(user_id=uid) for uid in (ids[-2], *ids[:4])]
    publics = [o.skills.create(name="dup", steps=steps, visibility="public") for o in owners]
    mine = me.skills.create(name="dup", steps=steps)
    assert me.skills.resolve("dup").id == mine.id
    stranger = svc.as_user(user_id=ids[4])
    assert stranger.skills.resolve("dup").id == publics[0].id


def test_tool_names_resolve_to_own_then_oldest_public_behind_max_rows(strict, make_user) -> None:
    """A skill's tool names, when public tools sharing them outnumber max-rows (3 here)."""
    from phase3_sdk._sync.engine.tools import ToolRunner
    from phase3_sdk.engine.registry import ToolRegistry

    strict(3)
    svc = _client(max_rows=3).service()  # the project's max-rows, as a user with max-rows 3 would say
    # As in the skill test above: the caller and the oldest public authors get the largest user ids, so
    # an unordered read cut at 3 rows would hold none of them.
    ids = sorted(make_user() for _ in range(8))
    me, oldest_a, oldest_b = ids[-1], ids[-2], ids[-3]
    made: dict[str, list[Any]] = {"alpha": [], "beta": []}
    for uid, name in [
        (oldest_a, "alpha"),
        (oldest_b, "beta"),
        *[(u, n) for u in ids[:4] for n in ("alpha", "beta")],
    ]:
        tool = svc.as_user(user_id=uid).tools.create(name=name, code="return 1;", visibility="public")
        made[name].append(tool)
    mine = svc.as_user(user_id=me).tools.create(name="beta", code="return 2;")

    runner = ToolRunner(svc.as_user(user_id=me)._transport, ToolRegistry())
    resolved = runner.resolve(["alpha", "beta"], me)
    assert resolved["beta"].row.id == mine.id
    assert resolved["alpha"].row.id == made["alpha"][0].id
    stranger = ids[4]
    resolved = ToolRunner(svc.as_user(user_id=stranger)._transport, ToolRegistry()).resolve(
        ["alpha", "beta", "gamma"], stranger
    )
    assert {n: r.row.id for n, r in resolved.items()} == {
        "alpha": made["alpha"][0].id,
        "beta": made["beta"][0].id,
    }

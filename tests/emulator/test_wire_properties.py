"""Property tests of the wire format: every value the SDK puts in a URL reaches PostgREST as that value.

For arbitrary text (all of Unicode, PostgREST's reserved characters ``,.:()"\\{}``, spaces, and the URL's
``+&;%=#?``), the SDK builds the request (``backends/postgrest.py``), httpx encodes it, and the emulator
decodes the query string as http-types does and parses it with PostgREST's grammar (QueryParams.hs). The
value that comes out must be exactly the one meant: a filter value, each element of an ``in`` list, each
element of a ``cs`` array (read back by PostgreSQL itself), and each value of a keyset cursor. Text that
cannot be sent (NUL, lone surrogates) is refused with :class:`InvalidInputError` before any request.

Examples per property: ``PHASE3_HYPOTHESIS_EXAMPLES`` (default 60, to keep the suite fast on 2 cores).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import httpx
import jwt
import psycopg
import pytest
import respx
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from phase3_sdk import InvalidInputError, Phase3Client, RetryPolicy
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends.base import Filter, Keyset, Order, Query
from phase3_sdk.db.embedded import create_auth_user
from phase3_sdk.schema.query import encode_cursor
from support.postgrest_emulator import (
    BASE_URL,
    Cond,
    PostgrestEmulator,
    Tree,
    parse_query,
    parse_query_string,
)

EXAMPLES = int(os.environ.get("PHASE3_HYPOTHESIS_EXAMPLES", "60"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

#: PostgREST's reserved characters, whitespace, and what a URL gives meaning to.
RESERVED = list(',.:()"\\{}[] \t\n+&;%=#?/*')
CHARS = st.one_of(
    st.sampled_from(RESERVED),
    st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
)
TEXT = st.text(CHARS, max_size=30)
U = "00000000-0000-0000-0000-00000000000a"


def sent(request: pt.Request) -> list[tuple[str, str | None]]:
    """The request's query string as PostgREST reads it: encoded by httpx, decoded by http-types' rules."""
    built = httpx.Request(request.method, BASE_URL + request.path, params=request.params)
    return parse_query_string(built.url.query)


def only_filter(request: pt.Request) -> Cond | Tree:
    query = parse_query(sent(request))
    assert len(query.filters) == 1
    return query.filters[0]


def leaves(tree: Cond | Tree) -> list[Cond]:
    if isinstance(tree, Cond):
        return [tree]
    return [leaf for item in tree.items for leaf in leaves(item)]


@PROPERTY
@given(op=st.sampled_from(["eq", "neq", "gt", "gte", "lt", "lte"]), text=TEXT)
def test_a_filter_value_arrives_as_sent(op: str, text: str) -> None:
    cond = only_filter(pt.select_request(Query("tools", ("id",), (Filter("name", op, text),))))
    assert isinstance(cond, Cond)
    assert (cond.column, cond.op, cond.value, cond.negate) == ("name", op, text, False)


@PROPERTY
@given(values=st.lists(TEXT, min_size=1, max_size=6))
def test_every_element_of_an_in_list_arrives_as_sent(values: list[str]) -> None:
    cond = only_filter(pt.select_request(Query("tools", ("id",), (Filter("name", "in", values),))))
    assert isinstance(cond, Cond)
    assert cond.op == "in"
    assert cond.value == values


@pytest.fixture(scope="module")
def pg(db_url: str) -> Any:
    with psycopg.connect(db_url, autocommit=True) as conn:
        yield conn


@PROPERTY
@given(values=st.lists(TEXT, min_size=1, max_size=6))
def test_every_element_of_a_contains_array_is_read_by_postgresql_as_sent(pg: Any, values: list[str]) -> None:
    cond = only_filter(pt.select_request(Query("tools", ("id",), (Filter("tags", "cs", values),))))
    assert isinstance(cond, Cond)
    assert cond.op == "cs"
    # PostgREST hands the text after ``cs.`` to PostgreSQL as an array literal; PostgreSQL reads it.
    row = pg.execute("select %s::text[]", (cond.value,)).fetchone()
    assert row[0] == values


def _keyset_values(order: tuple[Order, ...], after: tuple[Any, ...]) -> list[str]:
    key, value = pt.keyset_param(order, Keyset(after))
    query = parse_query(sent(pt.Request("GET", "/rest/v1/tools", [(key, value)])))
    (tree,) = query.filters
    return [leaf.value for leaf in leaves(tree)]


@PROPERTY
@given(name=TEXT)
def test_a_keyset_cursor_arrives_as_sent(name: str) -> None:
    order = (Order("name", False), Order("id", True))
    # or=(name.gt.N,and(name.eq.N,id.lt.U)): three leaves, the name twice.
    assert _keyset_values(order, (name, U)) == [name, name, U]


@PROPERTY
@given(when=st.datetimes(min_value=datetime(1, 1, 2), timezones=st.just(UTC)))
def test_a_timestamp_cursor_arrives_as_sent(when: datetime) -> None:
    order = (Order("created_at", True), Order("id", True))
    text = when.isoformat()  # with "+00:00": a "+" that must not become a space
    assert _keyset_values(order, (when, UUID(U))) == [text, text, U]


@PROPERTY
@example(name="{x}y")
@given(name=TEXT.map(lambda s: "{" + s))
def test_a_keyset_cursor_starting_with_a_brace_arrives_as_sent(name: str) -> None:
    order = (Order("name", False), Order("id", True))
    assert _keyset_values(order, (name, U)) == [name, name, U]


# -- what cannot be sent is refused before any request --------------------------------------------------

SECRET = "wire-properties-jwt-secret-of-32-characters"
SERVICE = jwt.encode({"role": "service_role"}, SECRET, "HS256")
UNSENDABLE = st.tuples(TEXT, st.sampled_from(["\x00", "\ud800", "\udfff"]), TEXT).map("".join)


@pytest.fixture
def offline() -> Any:
    """A REST client whose every request would be recorded (none may be sent)."""
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        route = router.route().respond(500)
        with Phase3Client(BASE_URL, SERVICE, jwt_secret=SECRET) as client:
            yield client, route


@PROPERTY
@given(text=UNSENDABLE)
def test_nul_and_lone_surrogates_in_a_filter_are_refused_before_any_request(offline: Any, text: str) -> None:
    client, route = offline
    with pytest.raises(InvalidInputError) as err:
        client.tools.count(name=text)
    assert err.value.field == "name"
    with pytest.raises(InvalidInputError) as err:
        client.skills.count(tag=text)
    assert err.value.field == "tag"
    assert not route.called


@PROPERTY
@given(text=UNSENDABLE)
def test_a_forged_cursor_with_nul_is_refused_before_any_request(offline: Any, text: str) -> None:
    client, route = offline
    order = (Order("created_at", True), Order("id", True))
    cursor = encode_cursor(order, {"created_at": text, "id": U})
    with pytest.raises(InvalidInputError) as err:
        client.tools.page(cursor=cursor)
    assert (err.value.field or "").startswith("cursor")
    assert not route.called


# -- end to end: the value picks exactly the rows it names, through the emulator and the database -------


@pytest.fixture(scope="module")
def rest_user(db_url: str) -> Any:
    """A REST client acting as a user of its own, through the faithful emulator (max-rows 1000)."""
    anon = jwt.encode({"role": "anon"}, SECRET, "HS256")
    emu = PostgrestEmulator(db_url, jwt_secret=SECRET, anon_key=anon, service_key=SERVICE)
    user = create_auth_user(db_url, "wire-properties@example.test", None)
    fast = RetryPolicy(max_attempts=2, initial_delay=0.01, max_delay=0.1, max_total=2.0, jitter=False)
    with emu.mount(), Phase3Client(BASE_URL, SERVICE, anon_key=anon, jwt_secret=SECRET, retry=fast) as client:
        yield client.as_user(user_id=user)
    emu.close()


NAMES = st.text(CHARS, min_size=1, max_size=40)
#: Each example here is several requests through the emulator into the database: a third as many.
END_TO_END = settings(PROPERTY, max_examples=max(10, EXAMPLES // 3))


@END_TO_END
@given(name=NAMES, other=NAMES)
def test_a_filter_value_selects_exactly_the_rows_it_names(rest_user: Any, name: str, other: str) -> None:
    """Commas, parentheses, quotes, braces, %, * and PostgREST's own syntax never change which rows match."""
    me = rest_user
    if name == other:
        other = other + "x"
    mine = me.tools.create(name=name, code="return 1", tags=[name])
    theirs = me.tools.create(name=other, code="return 1", tags=[other])
    try:
        assert [t.id for t in me.tools.list(name=name)] == [mine.id]
        assert me.tools.count(tag=name) == 1
        assert me.tools.count(tag=other) == 1
    finally:
        me.tools.delete(mine.id)
        me.tools.delete(theirs.id)


@END_TO_END
@given(names=st.lists(NAMES, min_size=2, max_size=4, unique=True))
def test_keyset_pages_walk_every_row_whatever_the_names(rest_user: Any, names: list[str]) -> None:
    me = rest_user
    made = [me.tools.create(name=n, code="return 1") for n in names]
    try:
        walked = [t.id for t in me.tools.list(order="name", page_size=1)]
        assert sorted(walked) == sorted(t.id for t in made)
        assert len(walked) == len(set(walked))
    finally:
        for t in made:
            me.tools.delete(t.id)

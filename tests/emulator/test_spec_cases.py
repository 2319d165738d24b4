"""The emulator answers as PostgREST's own specs say it must.

Each case is lifted from a spec file of PostgREST (repository PostgREST/postgrest, ``test/spec/Feature/``):
the request, and the status, headers and body the spec expects. The fixtures are the parts of PostgREST's
``test/spec/fixtures/schema.sql`` and ``data.sql`` those cases read (``items`` 1..15, ``entities``, a few
functions), created in this module's database. A case that fails here is a place where the SDK's tests
would be more lenient than the real server.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import psycopg
import pytest

from support.postgrest_emulator import BASE_URL, PostgrestEmulator

SECRET = "spec-cases-jwt-secret-of-at-least-32-chars"
ANON = jwt.encode({"role": "anon"}, SECRET, "HS256")
SERVICE = jwt.encode({"role": "service_role"}, SECRET, "HS256")

FIXTURES = r"""
create table public.items (id bigserial primary key);
insert into public.items select generate_series(1, 15);
select setval('public.items_id_seq', 15);
create table public.entities (id integer primary key, name text, arr integer[], text_search_vector tsvector);
insert into public.entities values (1, 'entity 1', '{1}', '''bar'':2 ''foo'':1'),
  (2, 'entity 2', '{1,2}', '''baz'':1 ''qux'':2'), (3, 'entity 3', '{1,2,3}', null), (4, null, null, null);
create table public.menagerie (id integer primary key);
create function public.ret_void() returns void language sql as '';
create function public.ret_null() returns int language sql as 'select null::int';
create function public.getitemrange(min bigint, max bigint) returns setof public.items stable language sql
  as 'select * from public.items where id > min and id <= max';
create function public.overloaded_same_args(arg integer) returns integer immutable language sql
  as 'select arg';
create function public.overloaded_same_args(arg xml) returns xml immutable language sql as 'select arg';
create function public.overloaded_same_args(arg text, num integer default 0) returns text immutable
  language sql as 'select arg';
create function public.raise_pt402() returns void language plpgsql as $$
begin
  raise sqlstate 'PT402' using message = 'Payment Required', detail = 'Quota exceeded',
    hint = 'Upgrade your plan';
end $$;
create function public.raise_sqlstate_test1() returns void language plpgsql as $$
begin
  raise sqlstate 'PGRST' using message = '{"code":"123","message":"ABC","details":"DEF","hint":"XYZ"}',
    detail = '{"status":332,"status_text":"My Custom Status","headers":{"X-Header":"str"}}';
end $$;
create function public.admin_shutdown() returns void language plpgsql as $$
begin
  raise sqlstate '57P01' using message = 'terminating connection due to administrator command';
end $$;
create function public.slow(seconds float) returns int language sql as 'select 1 from pg_sleep(seconds)';
create table public.tiobe_pls (name text primary key, rank smallint);
insert into public.tiobe_pls values ('Java', 1), ('C', 2), ('Python', 4);
create table public.complex_items (
  id bigint primary key, name text default 'Default', settings json, arr_data integer[],
  "field-with_sep" integer default 1 not null
);
grant all on public.items, public.entities, public.menagerie, public.tiobe_pls, public.complex_items
  to anon, authenticated, service_role;
grant usage on sequence public.items_id_seq to anon, authenticated, service_role;
"""


@pytest.fixture(scope="module")
def spec_db(db_url: str) -> str:
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute(FIXTURES)
    return db_url


def _emulator(db_url: str, **kwargs: Any) -> PostgrestEmulator:
    return PostgrestEmulator(db_url, jwt_secret=SECRET, anon_key=ANON, service_key=SERVICE, **kwargs)


@dataclass(frozen=True)
class Case:
    """One request of a spec and what the spec expects back."""

    source: str
    method: str
    url: str
    status: int
    #: The JSON body expected (compared whole); for an error, a dict compared key by key.
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    absent: tuple[str, ...] = ()
    send: dict[str, str] = field(default_factory=dict)
    payload: Any = None
    token: str | None = None
    max_rows: int | None = None
    error: bool = False


def ids(*values: int) -> list[dict[str, int]]:
    return [{"id": v} for v in values]


ALL = ids(*range(1, 16))

CASES = [
    # -- AndOrParamsSpec.hs --------------------------------------------------------------------------------
    Case("AndOrParams: or", "GET", "/entities?or=(id.eq.1,id.eq.2)&select=id", 200, ids(1, 2)),
    Case("AndOrParams: not.or", "GET", "/entities?not.or=(id.eq.1,id.eq.2)&select=id", 200, ids(3, 4)),
    Case(
        "AndOrParams: or with a filter",
        "GET",
        "/entities?or=(id.eq.1,id.eq.2)&name=eq.entity 1&select=id",
        200,
        ids(1),
    ),
    Case(
        "AndOrParams: nested and",
        "GET",
        "/entities?or=(and(name.eq.entity 2,id.eq.2),and(name.eq.entity 1,id.eq.1))&select=id",
        200,
        ids(1, 2),
    ),
    Case(
        "AndOrParams: not.and",
        "GET",
        "/entities?or=(not.and(name.eq.entity 2,id.eq.2),not.and(name.eq.entity 1,id.eq.1))&select=id",
        200,
        ids(1, 2, 3, 4),
    ),
    Case("AndOrParams: extra parenthesis", "GET", "/entities?and=(id.eq.1,id.neq.2))&select=id", 200, ids(1)),
    Case("AndOrParams: lt/gt", "GET", "/entities?or=(id.lt.2,id.gt.3)&select=id", 200, ids(1, 4)),
    Case(
        "AndOrParams: like/ilike",
        "GET",
        "/entities?or=(name.like.*1,name.ilike.*ENTITY 2)&select=id",
        200,
        ids(1, 2),
    ),
    Case("AndOrParams: in", "GET", "/entities?or=(id.in.(1,2),id.in.(3,4))&select=id", 200, ids(1, 2, 3, 4)),
    Case("AndOrParams: is", "GET", "/entities?and=(name.is.null,arr.is.null)&select=id", 200, ids(4)),
    Case(
        "AndOrParams: fts",
        "GET",
        "/entities?or=(text_search_vector.fts.bar,text_search_vector.fts.baz)&select=id",
        200,
        ids(1, 2),
    ),
    Case(
        "AndOrParams: isdistinct with an array",
        "GET",
        "/entities?and=(id.gte.2,arr.isdistinct.{1,2})&select=id",
        200,
        ids(3, 4),
    ),
    Case(
        "AndOrParams: cs and cd", "GET", "/entities?or=(arr.cs.{1,2,3},arr.cd.{1})&select=id", 200, ids(1, 3)
    ),
    Case("AndOrParams: arr eq", "GET", "/entities?arr=eq.{1,2,3}&select=id", 200, ids(3)),
    Case("AndOrParams: arr neq", "GET", "/entities?arr=neq.{1,2}&select=id", 200, ids(1, 3)),
    Case("AndOrParams: arr cd", "GET", "/entities?arr=cd.{1,2,6}&select=id", 200, ids(1, 2)),
    Case("AndOrParams: arr ov", "GET", "/entities?arr=ov.{2,3}&select=id", 200, ids(2, 3)),
    Case(
        "AndOrParams: spaces everywhere",
        "GET",
        "/entities?and=( and ( id.in.( 1, 2, 3 ) , id.eq.3 ) , or ( id.eq.2 , id.eq.3 ) )&select=id",
        200,
        ids(3),
    ),
    Case(
        "AndOrParams: zero conditions",
        "GET",
        "/entities?or=()",
        400,
        {"code": "PGRST100", "message": '"failed to parse logic tree (())" (line 1, column 4)'},
        error=True,
    ),
    # -- QuerySpec.hs --------------------------------------------------------------------------------------
    Case(
        "Query: bad order syntax",
        "GET",
        "/items?order=id.asc.nullslasttt",
        400,
        {"code": "PGRST100", "message": '"failed to parse order (id.asc.nullslasttt)" (line 1, column 17)'},
        error=True,
    ),
    Case(
        "Query: no operator",
        "GET",
        "/items?id=0",
        400,
        {"code": "PGRST100", "message": '"failed to parse filter (0)" (line 1, column 1)'},
        error=True,
    ),
    Case(
        "Query: unknown operator (QueryParams.hs doctest)",
        "GET",
        "/items?id=noop.0",
        400,
        {"code": "PGRST100", "message": '"failed to parse filter (noop.0)" (line 1, column 1)'},
        error=True,
    ),
    # -- QueryParams.hs pLogicSingleVal: a value starting with { is an array literal up to its } ----------
    Case(
        "QueryParams: {x}y in a logic tree",
        "GET",
        "/entities?or=(name.eq.{x}y,id.eq.1)&select=id",
        400,
        {"code": "PGRST100"},
        error=True,
    ),
    Case(
        "QueryParams: quoted {x}y in a logic tree",
        "GET",
        '/entities?or=(name.eq."{x}y",id.eq.1)&select=id',
        200,
        ids(1),
    ),
    # -- RangeSpec.hs ---------------------------------------------------------------------------------------
    Case("Range: all", "GET", "/items?order=id", 200, ALL, {"Content-Range": "0-14/*"}),
    Case("Range: empty", "GET", "/items?id=eq.0", 200, [], {"Content-Range": "*/*"}),
    Case(
        "Range: empty, counted",
        "GET",
        "/items?id=eq.0",
        200,
        [],
        {"Content-Range": "*/0"},
        send={"Prefer": "count=exact"},
    ),
    Case(
        "Range: limit",
        "GET",
        "/items?select=id&order=id.asc&limit=3",
        200,
        ids(1, 2, 3),
        {"Content-Range": "0-2/*"},
    ),
    Case(
        "Range: limit and offset",
        "GET",
        "/items?select=id&order=id.asc&limit=3&offset=2",
        200,
        ids(3, 4, 5),
        {"Content-Range": "2-4/*"},
    ),
    Case(
        "Range: Range header within the limit",
        "GET",
        "/items?select=id&order=id.asc&limit=3",
        200,
        ids(1, 2),
        {"Content-Range": "0-1/*"},
        send={"Range": "0-1"},
    ),
    Case(
        "Range: negative offset is a no-op",
        "GET",
        "/items?select=id&offset=-4&order=id",
        200,
        ALL,
        {"Content-Range": "0-14/*"},
    ),
    Case("Range: limit=0", "GET", "/items?select=id&limit=0", 200, [], {"Content-Range": "*/*"}),
    Case(
        "Range: negative limit",
        "GET",
        "/items?select=id&limit=-1",
        416,
        {
            "code": "PGRST103",
            "message": "Requested range not satisfiable",
            "details": "Limit should be greater than or equal to zero.",
        },
        error=True,
    ),
    Case(
        "Range: offset past the end, counted",
        "GET",
        "/items?offset=100",
        416,
        {"code": "PGRST103", "details": "An offset of 100 was requested, but there are only 15 rows."},
        {"Content-Range": "*/15"},
        send={"Prefer": "count=exact"},
        error=True,
    ),
    Case(
        "Range: offset on an empty table, counted",
        "GET",
        "/menagerie?offset=1",
        416,
        {"code": "PGRST103", "details": "An offset of 1 was requested, but there are only 0 rows."},
        {"Content-Range": "*/0"},
        send={"Prefer": "count=exact"},
        error=True,
    ),
    Case(
        "Range: partial content with a count",
        "GET",
        "/items?select=id&order=id&limit=2",
        206,
        ids(1, 2),
        {"Content-Range": "0-1/15"},
        send={"Prefer": "count=exact"},
    ),
    Case(
        "Range: function rows",
        "GET",
        "/rpc/getitemrange?order=id&min=0&max=15",
        200,
        ALL,
        {"Content-Range": "0-14/*"},
    ),
    # -- QueryLimitedSpec.hs (db-max-rows = 2) ---------------------------------------------------------------
    Case(
        "QueryLimited: restricts results",
        "GET",
        "/items?order=id",
        200,
        ids(1, 2),
        {"Content-Range": "0-1/*"},
        max_rows=2,
    ),
    Case(
        "QueryLimited: client range within",
        "GET",
        "/items?order=id",
        200,
        ids(1),
        {"Content-Range": "0-0/*"},
        send={"Range": "0-0"},
        max_rows=2,
    ),
    Case("QueryLimited: limit 0", "GET", "/items?limit=0", 200, [], {"Content-Range": "*/*"}, max_rows=2),
    Case(
        "QueryLimited: a bigger limit is still capped",
        "GET",
        "/items?order=id&limit=1001",
        200,
        ids(1, 2),
        {"Content-Range": "0-1/*"},
        max_rows=2,
    ),
    # -- RpcSpec.hs ------------------------------------------------------------------------------------------
    Case(
        "Rpc: void is 204",
        "POST",
        "/rpc/ret_void",
        204,
        None,
        absent=("Content-Type", "Content-Length"),
        payload={},
    ),
    Case("Rpc: null scalar", "POST", "/rpc/ret_null", 200, None, payload={}),
    Case(
        "Rpc: ambiguous overload is 300",
        "GET",
        "/rpc/overloaded_same_args?arg=value",
        300,
        {
            "code": "PGRST203",
            "hint": "Try renaming the parameters or the function itself in the database so function "
            "overloading can be resolved",
        },
        error=True,
    ),
    Case(
        "Rpc: unknown function",
        "POST",
        "/rpc/no_such_function",
        404,
        {"code": "PGRST202"},
        payload={},
        error=True,
    ),
    # -- ErrorSpec.hs ----------------------------------------------------------------------------------------
    Case(
        "Error: table not found",
        "GET",
        "/non_existent_table",
        404,
        {
            "code": "PGRST205",
            "message": "Could not find the table 'public.non_existent_table' in the schema cache",
        },
        {"Proxy-Status": "PostgREST; error=PGRST205"},
        error=True,
    ),
    Case(
        "Error: invalid path",
        "GET",
        "/invalid/nested/paths",
        404,
        {"code": "PGRST125", "message": "Invalid path specified in request URL"},
        {"Proxy-Status": "PostgREST; error=PGRST125"},
        error=True,
    ),
    Case(
        "Error: raise PT402",
        "GET",
        "/rpc/raise_pt402",
        402,
        {
            "code": "PT402",
            "details": "Quota exceeded",
            "hint": "Upgrade your plan",
            "message": "Payment Required",
        },
        {"Proxy-Status": "PostgREST; error=PT402"},
        error=True,
    ),
    Case(
        "Error: raise PGRST",
        "GET",
        "/rpc/raise_sqlstate_test1",
        332,
        {"code": "123", "details": "DEF", "hint": "XYZ", "message": "ABC"},
        {"Proxy-Status": "PostgREST; error=123", "X-Header": "str"},
        error=True,
    ),
    Case(
        "Error: role does not exist",
        "GET",
        "/items",
        401,
        {"code": "22023", "message": 'role "not existing" does not exist'},
        token=jwt.encode({"role": "not existing"}, SECRET, "HS256"),
        error=True,
    ),
    Case(
        "Error: JWT with the wrong secret",
        "GET",
        "/items",
        401,
        {"code": "PGRST301", "message": "No suitable key or wrong key type"},
        token=jwt.encode({}, "wrong secret of at least thirty-two characters", "HS256"),
        error=True,
    ),
    Case(
        "Error: JWT with two parts",
        "GET",
        "/items",
        401,
        {"code": "PGRST301", "message": "Expected 3 parts in JWT; got 2"},
        {"Proxy-Status": "PostgREST; error=PGRST301"},
        token="ab.cd",
        error=True,
    ),
    # -- Error.hs mapSQLtoHTTP + App.hs addRetryHint ---------------------------------------------------------
    Case(
        "Error.hs: 57P01 is 503 with Retry-After",
        "POST",
        "/rpc/admin_shutdown",
        503,
        {"code": "57P01"},
        {"Retry-After": "0"},
        payload={},
        error=True,
    ),
]


@pytest.fixture(scope="module")
def servers(spec_db: str) -> Iterator[dict[int | None, PostgrestEmulator]]:
    emus = {None: _emulator(spec_db, max_rows=None), 2: _emulator(spec_db, max_rows=2)}
    yield emus
    for emu in emus.values():
        emu.close()


def _send(emu: PostgrestEmulator, case: Case) -> httpx.Response:
    headers = {"apikey": ANON, **case.send}
    if case.token is not None:
        headers["Authorization"] = f"Bearer {case.token}"
    with emu.mount(), httpx.Client(base_url=BASE_URL + "/rest/v1") as client:
        return client.request(
            case.method,
            case.url,
            headers=headers,
            content=None if case.payload is None else json.dumps(case.payload).encode(),
        )


@pytest.mark.parametrize("case", CASES, ids=[c.source for c in CASES])
def test_spec_case(servers: dict[int | None, PostgrestEmulator], case: Case) -> None:
    response = _send(servers[case.max_rows], case)
    assert response.status_code == case.status, response.text
    for name, value in case.headers.items():
        assert response.headers.get(name) == value, (name, dict(response.headers))
    for name in case.absent:
        assert name not in response.headers, (name, dict(response.headers))
    if case.status == 204:
        assert response.content == b""
    elif case.error:
        got = response.json()
        assert set(got) >= {"code", "message", "details", "hint"}
        assert {k: got[k] for k in case.body} == case.body
    else:
        assert response.json() == case.body


def _request(emu: PostgrestEmulator, method: str, url: str, **kwargs: Any) -> httpx.Response:
    headers = {"apikey": SERVICE, "Authorization": f"Bearer {SERVICE}", **kwargs.pop("headers", {})}
    with emu.mount(), httpx.Client(base_url=BASE_URL + "/rest/v1") as client:
        return client.request(method, url, headers=headers, **kwargs)


def test_mutation_shapes(servers: dict[int | None, PostgrestEmulator]) -> None:
    """InsertSpec / UpdateSpec / DeleteSpec / QueryLimitedSpec: statuses and Content-Range of writes."""
    emu = servers[2]  # QueryLimitedSpec: max-rows does not touch writes
    rows = [{"id": 101}, {"id": 102}, {"id": 103}]
    r = _request(emu, "POST", "/items?select=id", json=rows, headers={"Prefer": "return=representation"})
    assert (r.status_code, r.json(), r.headers["Content-Range"]) == (201, rows, "*/*")
    r = _request(emu, "POST", "/items", json=[{"id": 104}], headers={"Prefer": "count=exact"})
    assert (r.status_code, r.content, r.headers["Content-Range"]) == (201, b"", "*/1")
    r = _request(emu, "PATCH", "/items?id=eq.104", json={"id": 105})
    assert (r.status_code, r.content, r.headers["Content-Range"]) == (204, b"", "0-0/*")
    assert "Content-Type" not in r.headers
    r = _request(emu, "PATCH", "/items?id=gte.101", json={}, headers={"Prefer": "return=representation"})
    assert r.status_code == 200
    r = _request(
        emu,
        "PATCH",
        "/items?id=eq.105&select=id",
        json={"id": 106},
        headers={"Prefer": "return=representation"},
    )
    assert (r.status_code, r.json(), r.headers["Content-Range"]) == (200, ids(106), "0-0/*")
    r = _request(emu, "PATCH", "/items?id=eq.999", json={"id": 998})
    assert (r.status_code, r.headers["Content-Range"]) == (204, "*/*")
    r = _request(emu, "DELETE", "/items?id=gte.101", headers={"Prefer": "return=representation"})
    assert (r.status_code, len(r.json()), r.headers["Content-Range"]) == (200, 4, "*/*")
    r = _request(emu, "DELETE", "/items?id=eq.1000")
    assert (r.status_code, r.headers["Content-Range"]) == (204, "*/*")
    r = _request(emu, "DELETE", "/items?id=eq.1000", headers={"Prefer": "count=exact"})
    assert (r.status_code, r.headers["Content-Range"]) == (204, "*/0")


def test_a_url_over_8_kb_is_refused_by_the_gateway(servers: dict[int | None, PostgrestEmulator]) -> None:
    values = ",".join(str(i) for i in range(2000))
    r = _request(servers[None], "GET", f"/items?id=in.({values})")
    assert r.status_code == 414
    r = _request(servers[None], "GET", "/items?id=in.(1,2)")
    assert r.status_code == 200


def test_pool_timeout_is_504_pgrst003_and_requests_run_concurrently(spec_db: str) -> None:
    """Error.hs: AcquisitionTimeoutUsageError is 504 PGRST003. One connection busy -> the next times out."""
    emu = _emulator(spec_db, pool_size=1, acquisition_timeout=0.2)
    try:
        started = threading.Event()
        results: list[int] = []

        def hold() -> None:
            started.set()
            results.append(_request(emu, "POST", "/rpc/slow", json={"seconds": 1.5}).status_code)

        worker = threading.Thread(target=hold)
        worker.start()
        started.wait()
        time.sleep(0.3)  # let the slow call take the only connection
        r = _request(emu, "GET", "/items?limit=1")
        worker.join()
        assert results == [200]
        assert r.status_code == 504
        assert r.json()["code"] == "PGRST003"
        assert "Retry-After" not in r.headers  # only 503s carry it (App.hs)
    finally:
        emu.close()

    # With a pool of two, two slow calls overlap: both finish in about one call's time, not two.
    emu = _emulator(spec_db, pool_size=2)
    try:
        spans: list[tuple[float, float]] = []

        def call() -> None:
            t0 = time.monotonic()
            assert _request(emu, "POST", "/rpc/slow", json={"seconds": 0.5}).status_code == 200
            spans.append((t0, time.monotonic()))

        threads = [threading.Thread(target=call) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        (a0, a1), (b0, b1) = spans
        assert max(a0, b0) < min(a1, b1)  # the two calls were in the database at the same time
    finally:
        emu.close()


def test_upsert_ignoring_duplicates_on_the_primary_key(servers: dict[int | None, PostgrestEmulator]) -> None:
    """UpsertSpec.hs: ignore-duplicates without on_conflict uses the primary key; only new rows come back."""
    r = _request(
        servers[None],
        "POST",
        "/tiobe_pls",
        json=[{"name": "PHP", "rank": 9}, {"name": "Python", "rank": 10}],
        headers={"Prefer": "return=representation, resolution=ignore-duplicates"},
    )
    assert r.status_code == 201
    assert r.json() == [{"name": "PHP", "rank": 9}]
    assert r.headers["Preference-Applied"] == "resolution=ignore-duplicates, return=representation"


def test_insert_with_missing_default(servers: dict[int | None, PostgrestEmulator]) -> None:
    """InsertSpec.hs: with columns= and missing=default, a key a row leaves out takes its column default."""
    r = _request(
        servers[None],
        "POST",
        "/complex_items?columns=id,name,field-with_sep,arr_data",
        json=[
            {"id": 4, "name": "Vier"},
            {"id": 5, "name": "Funf", "arr_data": None},
            {"id": 6, "name": "Sechs", "field-with_sep": 6, "arr_data": "{1,2,3}"},
        ],
        headers={"Prefer": "return=representation, missing=default"},
    )
    assert r.status_code == 201
    assert r.json() == [
        {"id": 4, "name": "Vier", "settings": None, "arr_data": None, "field-with_sep": 1},
        {"id": 5, "name": "Funf", "settings": None, "arr_data": None, "field-with_sep": 1},
        {"id": 6, "name": "Sechs", "settings": None, "arr_data": [1, 2, 3], "field-with_sep": 6},
    ]
    assert r.headers["Preference-Applied"] == "missing=default, return=representation"

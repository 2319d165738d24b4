"""What the typed SDK costs over the raw libraries on the same path, side by side in one run.

    .venv/bin/python benchmarks/client_overhead.py [--rows 1000] [--runs 30]

* REST: listing N ``custom_tools`` rows through this SDK's REST backend vs. raw ``postgrest``
  (``SyncPostgrestClient``), both over an ``httpx.MockTransport`` replaying the SAME response in-process.
  That response was produced once by the PostgREST emulator from the real embedded database, so it is
  byte-for-byte what PostgreSQL + PostgREST send. The network is out of the picture: this is pure
  client-side overhead (request building, JSON decoding, validation into models).
* Postgres: the SDK's Postgres backend vs. raw psycopg (same statement, same rows, same role/claims
  transaction) on the embedded database.
* ``as_user()``: the cost of 1,000 user-scoped clients, and whether any connection was opened.

Target (issue 3): the typed SDK within 1.3x of the raw library on the same path; ``as_user`` < 50 us.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import jwt
import psycopg
from postgrest import SyncPostgrestClient
from psycopg.rows import dict_row
from pydantic import TypeAdapter

from phase3_sdk import Identity, Phase3Client, RetryPolicy
from phase3_sdk._sync.backends.rest import RestBackend
from phase3_sdk._sync.client import _Shared
from phase3_sdk._sync.transport import Transport
from phase3_sdk.backends import postgrest as pt
from phase3_sdk.backends import sql as q
from phase3_sdk.backends.base import Order, Query
from phase3_sdk.db.embedded import EmbeddedDatabase, create_auth_user
from phase3_sdk.identity import mint_user_token
from phase3_sdk.models import Tool
from phase3_sdk.schema.tables import ALL_TABLES, TOOLS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from postgrest_emulator import BASE_URL, PostgrestEmulator

SECRET = "benchmark-jwt-secret-at-least-32-characters"
ANON = jwt.encode({"role": "anon", "iss": "supabase"}, SECRET, algorithm="HS256")
SERVICE = jwt.encode({"role": "service_role", "iss": "supabase"}, SECRET, algorithm="HS256")


def median_ms(fns: Sequence[Callable[[], Any]], runs: int) -> list[float]:
    """The median time of each function. Runs are interleaved (one of each per round), so that all of them
    see the same load on the machine, rather than the load of whichever moment each was timed at."""
    for fn in fns:
        fn()  # warm up (imports, prepared statements, pydantic's first-use work)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(runs):
        for fn, times in zip(fns, samples, strict=True):
            started = time.perf_counter()
            fn()
            times.append(time.perf_counter() - started)
    return [statistics.median(times) * 1000 for times in samples]


def seed(url: str, rows: int) -> Any:
    user = create_auth_user(url, "bench@example.test")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "insert into public.custom_tools "
            "(user_id, name, description, parameters, code, tags, created_at) "
            "select %s, 'tool-' || g, 'benchmark tool number ' || g, "
            "jsonb_build_object('type', 'object', 'properties', "
            "jsonb_build_object('x', jsonb_build_object('type', 'number'))), "
            "'return { result: params.x * 2 };', array['bench', 'tag' || (g %% 10)], "
            "now() - g * interval '1 second' "
            "from generate_series(1, %s) g",
            (user, rows),
        )
    return user


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    n = args.rows

    with EmbeddedDatabase() as db:
        db.setup()
        url = db.url
        user = seed(url, n)
        token = mint_user_token(user, SECRET)
        order = (Order("created_at", True), Order("id", True))
        query = Query(TOOLS.name, TOOLS.light_columns, (), order, None, n + 1)

        # -- REST: record the response once, from the real database through the emulator ------------------
        emulator = PostgrestEmulator(url, jwt_secret=SECRET, anon_key=ANON, service_key=SERVICE)
        request = pt.select_request(query)
        recorded = emulator.handle(
            httpx.Request(
                request.method,
                BASE_URL + request.path,
                params=request.params,
                headers={"apikey": ANON, "Authorization": f"Bearer {token}"},
            )
        )
        body, headers = recorded.content, dict(recorded.headers)
        emulator.close()

        def replay(_: httpx.Request) -> httpx.Response:
            return httpx.Response(200, content=body, headers=headers)

        sdk_backend = RestBackend(
            BASE_URL,
            anon_key=ANON,
            service_role_key=SERVICE,
            timeout=30,
            connect_timeout=10,
            http_client=httpx.Client(transport=httpx.MockTransport(replay)),
            # As Phase3Client passes them: rows come back typed (the fast path users get).
            row_types={table.name: table.row_factory for table in ALL_TABLES},
        )
        sdk_rest = Phase3Client._make(
            _Shared(sdk_backend, "rest", SECRET),
            Transport(sdk_backend, Identity.anon(), RetryPolicy.none()),
            owner=True,
        ).as_user(token)

        def sdk_rest_list() -> None:
            rows = list(sdk_rest.tools.list(page_size=n))
            assert len(rows) == n

        raw_rest = SyncPostgrestClient(
            BASE_URL + "/rest/v1",
            headers={"apikey": ANON, "Authorization": f"Bearer {token}"},
            http_client=httpx.Client(transport=httpx.MockTransport(replay)),
        )

        def raw_rest_list() -> None:
            rows = (
                raw_rest.from_(TOOLS.name)
                .select(",".join(TOOLS.light_columns))
                .order("created_at", desc=True)
                .order("id", desc=True)
                .limit(n + 1)
                .execute()
                .data
            )
            assert len(rows) == n

        # What a user of the raw library writes to get the same typed rows: the SDK's own models, validated.
        tools = TypeAdapter(list[Tool])

        def raw_rest_typed() -> None:
            data = (
                raw_rest.from_(TOOLS.name)
                .select(",".join(TOOLS.light_columns))
                .order("created_at", desc=True)
                .order("id", desc=True)
                .limit(n + 1)
                .execute()
                .data
            )
            assert len(tools.validate_python(data)) == n

        rest_sdk_ms, rest_raw_ms, rest_typed_ms = median_ms(
            (sdk_rest_list, raw_rest_list, raw_rest_typed), args.runs
        )

        # -- Postgres ----------------------------------------------------------------------------------
        root = Phase3Client.connect(
            url, retry=RetryPolicy.none(), min_connections=1, max_connections=2, jwt_secret=SECRET
        )
        me = root.as_user(user_id=user)

        def sdk_pg_list() -> None:
            rows = list(me.tools.list(page_size=n))
            assert len(rows) == n

        identity = Identity.for_user(user)
        stmt, params = q.compile_select(Query(TOOLS.name, TOOLS.light_columns, (), order, None, n + 1))
        raw_conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)

        def raw_pg_list() -> None:
            with raw_conn.transaction():
                raw_conn.execute(q.SET_IDENTITY, q.identity_params(identity))
                rows = raw_conn.execute(stmt, params).fetchall()
            assert len(rows) == n

        def raw_pg_typed() -> None:
            with raw_conn.transaction():
                raw_conn.execute(q.SET_IDENTITY, q.identity_params(identity))
                rows = raw_conn.execute(stmt, params).fetchall()
            assert len(tools.validate_python(rows)) == n

        pg_sdk_ms, pg_raw_ms, pg_typed_ms = median_ms((sdk_pg_list, raw_pg_list, raw_pg_typed), args.runs)

        # -- as_user ------------------------------------------------------------------------------------
        pool = root._shared.backend._pool  # type: ignore[attr-defined]
        before = pool.get_stats()
        started = time.perf_counter()
        made = [root.as_user(user_id=user) for _ in range(1000)]
        by_id_us = (time.perf_counter() - started) / 1000 * 1e6
        started = time.perf_counter()
        made += [root.as_user(token) for _ in range(1000)]
        by_token_us = (time.perf_counter() - started) / 1000 * 1e6
        started = time.perf_counter()
        made += [sdk_rest.as_user(token) for _ in range(1000)]
        rest_token_us = (time.perf_counter() - started) / 1000 * 1e6
        after = pool.get_stats()
        opened = after.get("connections_num", 0) - before.get("connections_num", 0)
        assert len(made) == 3000
        raw_conn.close()
        root.close()
        sdk_rest.close()
        sdk_backend.close()

    print(f"\nList {n} rows, median of {args.runs} interleaved runs (ms)\n")
    head = f"{'path':<10}{'this SDK':>10}{'raw (dicts)':>13}{'ratio':>8}{'raw + models':>14}{'ratio':>8}"
    print(head + "   raw library")
    print(
        f"{'REST':<10}{rest_sdk_ms:>10.2f}{rest_raw_ms:>13.2f}{rest_sdk_ms / rest_raw_ms:>7.2f}x"
        f"{rest_typed_ms:>14.2f}{rest_sdk_ms / rest_typed_ms:>7.2f}x   SyncPostgrestClient, same bytes"
    )
    print(
        f"{'Postgres':<10}{pg_sdk_ms:>10.2f}{pg_raw_ms:>13.2f}{pg_sdk_ms / pg_raw_ms:>7.2f}x"
        f"{pg_typed_ms:>14.2f}{pg_sdk_ms / pg_typed_ms:>7.2f}x   psycopg dict rows, same statement"
    )
    print(
        "\n'raw + models': the raw library's rows validated into the same pydantic models "
        "(TypeAdapter(list[Tool]))"
    )
    print("\n1,000 as_user() clients (us each)\n")
    print(f"  Postgres, as_user(user_id=...)     {by_id_us:8.1f}")
    print(f"  Postgres, as_user(access_token)    {by_token_us:8.1f}")
    print(f"  REST,     as_user(access_token)    {rest_token_us:8.1f}")
    print(f"  connections opened by 3,000 as_user() calls: {opened}  (pool {before} -> {after})")
    print("\ntarget: SDK within 1.3x of the raw library; as_user < 50 us and no new connection")


if __name__ == "__main__":
    main()

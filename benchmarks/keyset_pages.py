"""Keyset pages at the start, middle and end of a long list, side by side in one run (issue 13, item 7).

    .venv/bin/python benchmarks/keyset_pages.py [--rows 100000] [--page 1000] [--runs 5] [--embeddings]

One user with ``--rows`` memories (realistic messages; ``--embeddings`` also stores a 768-dimension vector
per row, which is not selected). For a page at the first, middle and last position it prints the median
time of:

* this SDK, Postgres backend (``conversations.page(limit, cursor)``);
* this SDK, REST backend through the PostgREST emulator on the same database (emulator cost included);
* raw psycopg, binary, the same columns and the same statement the SDK sends (keyset ``or`` plus the
  leading-column bound ``created_at <= x``);
* raw psycopg with the statement as it was before the bound (the keyset ``or`` alone).

and the total of listing every row (``list(page_size)``) through each backend against raw psycopg reading
the same pages. Page times that do not grow with the position are the point: before the bound, every page
read the index from the newest row and discarded every row before its cursor.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import psycopg

from phase3_sdk import Identity, Phase3Client, RetryPolicy
from phase3_sdk.backends import sql as q
from phase3_sdk.backends.base import Query
from phase3_sdk.db.embedded import EmbeddedDatabase, create_auth_user
from phase3_sdk.schema.query import decode_cursor, encode_cursor, page_query, parse_order
from phase3_sdk.schema.tables import CONVERSATIONS

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from postgrest_emulator import BASE_URL, PostgrestEmulator

SECRET = "benchmark-jwt-secret-at-least-32-characters"
ANON = jwt.encode({"role": "anon", "iss": "supabase"}, SECRET, algorithm="HS256")
SERVICE = jwt.encode({"role": "service_role", "iss": "supabase"}, SECRET, algorithm="HS256")


def seed(url: str, rows: int, embeddings: bool) -> Any:
    user = create_auth_user(url, "pages@example.test")
    vector = (
        "(select array_agg(random()::real) from generate_series(1, 768) where g > 0)::extensions.vector"
        if embeddings
        else "null"
    )
    with psycopg.connect(url, autocommit=True) as conn:
        schema = conn.execute(
            "select extnamespace::regnamespace::text from pg_extension where extname = 'vector'"
        )
        found = schema.fetchone()
        if found:
            vector = vector.replace("extensions.vector", f"{found[0]}.vector")
        conn.execute(
            "insert into public.conversations (user_id, messages, instance_key, primary_emotion, "
            "extracted_topics, embedding, created_at) "
            "select %s, jsonb_build_array("
            "jsonb_build_object('role', 'user', 'content', "
            "'I keep thinking about the trip we planned, number ' || g),"
            "jsonb_build_object('role', 'assistant', 'content', "
            "'What part of it stays with you most? ' || repeat('x', 80)),"
            "jsonb_build_object('role', 'user', 'content', 'The quiet mornings by the lake, mostly.')), "
            f"'app', 'calm', array['travel', 'memory'], {vector}, "
            "timestamptz '2026-01-01' + g * interval '1 second' "
            "from generate_series(1, %s) g",
            (user, rows),
        )
        conn.execute("analyze public.conversations")
    return user


def median_ms(fn: Callable[[], Any], runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--page", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--embeddings", action="store_true")
    args = parser.parse_args()
    n, size = args.rows, args.page

    with EmbeddedDatabase() as db:
        db.setup()
        url = db.url
        print(f"seeding {n:,} memories{' with embeddings' if args.embeddings else ''} ...", flush=True)
        user = seed(url, n, args.embeddings)
        order = parse_order(CONVERSATIONS, None)
        identity = Identity.for_user(user)

        pg = Phase3Client.connect(url, retry=RetryPolicy.none(), min_connections=1, max_connections=2)
        me_pg = pg.as_user(user_id=user)
        emulator = PostgrestEmulator(url, jwt_secret=SECRET, anon_key=ANON, service_key=SERVICE)
        rest = Phase3Client(BASE_URL, SERVICE, anon_key=ANON, jwt_secret=SECRET, retry=RetryPolicy.none())
        me_rest = rest.as_user(user_id=user)
        raw = psycopg.connect(url, autocommit=True)

        # Cursors at the first, middle and last page, from the ids in list order.
        with raw.transaction():
            raw.execute(q.SET_IDENTITY, q.identity_params(identity))
            keys = raw.execute(
                "select created_at, id from public.conversations order by created_at desc, id desc"
            ).fetchall()
        positions = {"first": 0, "middle": n // 2, "last": n - size}
        cursors = {
            name: None
            if at == 0
            else encode_cursor(order, {"created_at": keys[at - 1][0], "id": keys[at - 1][1]})
            for name, at in positions.items()
        }

        def raw_page(cursor: str | None, *, bound: bool) -> int:
            query = page_query(CONVERSATIONS, (), order, size, cursor)
            if not bound and cursor is not None:
                query = Query(
                    query.table, query.columns, (), order, decode_cursor(order, cursor), query.limit
                )
            stmt, params = q.compile_select(query)
            with raw.transaction(), raw.cursor(binary=True) as cur:
                cur.execute(q.SET_IDENTITY, q.identity_params(identity))
                return len(cur.execute(stmt, params).fetchall())

        rows_out = []
        with emulator.mount():
            for name, cursor in cursors.items():
                rows_out.append(
                    (
                        name,
                        positions[name],
                        median_ms(
                            lambda c=cursor: me_pg.conversations.page(page_size=size, cursor=c), args.runs
                        ),
                        median_ms(
                            lambda c=cursor: me_rest.conversations.page(page_size=size, cursor=c), args.runs
                        ),
                        median_ms(lambda c=cursor: raw_page(c, bound=True), args.runs),
                        median_ms(lambda c=cursor: raw_page(c, bound=False), args.runs),
                    )
                )

            def total(fn: Callable[[], int]) -> float:
                started = time.perf_counter()
                assert fn() == n
                return time.perf_counter() - started

            def raw_all() -> int:
                seen, cursor = 0, None
                while True:
                    got = raw_page(cursor, bound=True)
                    seen += min(got, size)
                    if got <= size:
                        return seen
                    k = keys[seen - 1]
                    cursor = encode_cursor(order, {"created_at": k[0], "id": k[1]})

            t_pg = total(lambda: sum(1 for _ in me_pg.conversations.list(page_size=size)))
            t_rest = total(lambda: sum(1 for _ in me_rest.conversations.list(page_size=size)))
            t_raw = total(raw_all)
        raw.close()
        pg.close()
        rest.close()
        emulator.close()

    print(f"\nOne page of {size} memories of {n:,}, median of {args.runs} runs (ms)\n")
    print(
        f"{'page':<8}{'position':>10}{'SDK pg':>10}{'SDK REST*':>11}{'raw psycopg':>13}{'ratio':>7}"
        f"{'old SQL':>10}"
    )
    for name, at, sdk_pg, sdk_rest, raw_ms, old_ms in rows_out:
        print(
            f"{name:<8}{at:>10,}{sdk_pg:>10.1f}{sdk_rest:>11.1f}{raw_ms:>13.1f}{sdk_pg / raw_ms:>6.2f}x"
            f"{old_ms:>10.1f}"
        )
    print(
        f"\nAll {n:,} rows in pages of {size} (s): SDK pg {t_pg:.2f}, SDK REST* {t_rest:.2f}, "
        f"raw psycopg {t_raw:.2f}"
    )
    print("* REST through the PostgREST emulator on the same database (its own parsing and JSON included).")
    print("  old SQL: the same page without the created_at bound, as the SDK sent it before.")


if __name__ == "__main__":
    main()

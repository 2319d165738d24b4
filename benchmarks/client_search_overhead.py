"""What ``client.search.semantic`` costs in Python over its own SQL function, side by side in one run.

    .venv/bin/python benchmarks/client_search_overhead.py [--memories 1000] [--queries 300] [--profile 300]

One user of ``--memories`` memories (random unit vectors, loaded through the SDK's ``bulk_create``) in an
embedded database. At 1,000 memories the function ranks exactly (an index starts at 2,000), so the
database does the same work for every method below, and what separates them is the client: building the
call, sending the query vector, the transaction that sets the role and the JWT claims, making the rows.
Random vectors suffice: this measures Python overhead, not recall (``benchmarks/search.py`` does that).

Methods, each called with a query vector of its own per round (float32 numpy, as an embedder gives it),
taken in turn round by round with the order rotated (as ``benchmarks/search.py`` does), so that all meet
the same cache and load:

* ``SDK``: ``me.search.semantic(q, match_count=10, threshold=None)`` on the sync client (pool, one
  transaction with role and claims, full rows as ``SearchHit`` models in a ``SearchResults``).
* ``raw psycopg, full rows, identity per call``: what the SDK does, by hand with psycopg on one connection
  (no pool): ``set_config`` of role and claims and ``select * from semantic_search(...)`` in one pipeline
  (one implicit transaction, up to its Sync), dict rows; the vector bound in binary with pgvector's
  registered dumper.
* ``raw psycopg, full rows``: a connection acting as the user for its whole session (as
  ``benchmarks/search.py`` runs "its SQL function alone"), dict rows, binary vector.
* ``raw psycopg, ids``: the same returning ids only, binary vector.
* ``raw psycopg, ids, vector as text``: the same with the vector sent as pgvector's text form
  (``vector_text``), exactly ``benchmarks/search.py``'s "its SQL function alone".

Each method's client CPU time per call (this process's, mean) is printed beside its wall time: under
load the wall time moves with the machine, the CPU time is what the client itself spends.

Then a cProfile of ``--profile`` SDK calls: the top 15 functions by own time, and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg.rows import dict_row
from psycopg.types import TypeInfo

from phase3_sdk import Identity, Phase3Client, RetryPolicy
from phase3_sdk.backends import sql as q
from phase3_sdk.db.embedded import EmbeddedDatabase
from phase3_sdk.embeddings import vector_text

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"
DIM = 768
WARMUP = 30
SEED = 11
Vectors = npt.NDArray[np.float32]
FUNCTION = "public.semantic_search(query_embedding => %s::extensions.vector, match_count => 10)"


def unit_vectors(rng: np.random.Generator, n: int) -> Vectors:
    x = rng.normal(size=(n, DIM)).astype(np.float32)
    scaled: Vectors = x / np.linalg.norm(x, axis=1, keepdims=True)
    return scaled


def load(db: EmbeddedDatabase, memories: int, rng: np.random.Generator) -> uuid.UUID:
    """One user holding ``memories`` memories with random unit embeddings, loaded through the SDK."""
    uid = db.create_user("overhead@example.test")
    rows = [
        {"id": str(uuid.uuid4()), "messages": [{"role": "user", "content": f"memory {i}"}], "embedding": e}
        for i, e in enumerate(unit_vectors(rng, memories))
    ]
    with Phase3Client.connect(db.url) as root:
        root.as_user(user_id=uid).conversations.bulk_create(rows, batch_size=2000)
    with psycopg.connect(db.url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.conversations")  # what autovacuum does after a load
    return uid


def register_vector(conn: psycopg.Connection[Any]) -> None:
    """pgvector's dumpers on ``conn``: numpy arrays go as binary vectors (pgvector is in ``extensions``)."""
    register_vector_info(conn, TypeInfo.fetch(conn, "extensions.vector"))


def session_as(url: str, uid: uuid.UUID) -> psycopg.Connection[dict[str, Any]]:
    """A connection acting as ``uid`` for its whole session, vectors bound in binary (pgvector's dumper)."""
    conn = psycopg.connect(url, autocommit=True, row_factory=dict_row)
    register_vector(conn)
    conn.execute(
        "select set_config('role', 'authenticated', false), set_config('request.jwt.claims', %s, false)",
        (f'{{"sub": "{uid}", "role": "authenticated"}}',),
    )
    return conn


Method = Callable[[Vectors], int]


def measure(methods: list[Method], queries: Vectors, rounds: int) -> list[tuple[float, float, float]]:
    """p50 and p95 of the wall time and mean CPU time of this process (ms) of each method; each round
    calls every method once, on a query of its own, in an order rotated per round so that none is always
    first. The CPU time is the client's own work, which the machine's load barely changes."""
    wall: list[list[float]] = [[] for _ in methods]
    cpu: list[list[float]] = [[] for _ in methods]
    n = len(methods)
    for i in range(rounds + WARMUP):
        order = list(range(n))
        order = order[i % n :] + order[: i % n]
        for m in order:
            query = queries[(i * n + m) % len(queries)]
            c = time.process_time()
            t = time.perf_counter()
            found = methods[m](query)
            elapsed = (time.perf_counter() - t) * 1000
            used = (time.process_time() - c) * 1000
            assert found == 10, found
            if i >= WARMUP:
                wall[m].append(elapsed)
                cpu[m].append(used)
    stats = []
    for ts, cs in zip(wall, cpu, strict=True):
        ts.sort()
        stats.append((statistics.median(ts), ts[max(0, int(len(ts) * 0.95) - 1)], statistics.mean(cs)))
    return stats


def profile(call: Method, queries: Vectors, calls: int) -> str:
    """The top 15 functions of ``calls`` calls, by own time and by cumulative time."""
    profiler = cProfile.Profile()
    profiler.enable()
    for i in range(calls):
        call(queries[i % len(queries)])
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats("tottime").print_stats(15)
    stats.sort_stats("cumulative").print_stats(15)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--memories", type=int, default=1000, help="memories of the one user")
    parser.add_argument("--queries", type=int, default=300, help="timed calls per method")
    parser.add_argument("--profile", type=int, default=300, help="SDK calls under cProfile (0: none)")
    args = parser.parse_args()
    rng = np.random.default_rng(SEED)
    queries = unit_vectors(rng, 4096)

    with EmbeddedDatabase() as db:
        db.setup(MIGRATIONS)
        uid = load(db, args.memories, rng)
        identity = Identity.for_user(uid)
        with (
            Phase3Client.connect(db.url, retry=RetryPolicy.none(), max_connections=2) as root,
            session_as(db.url, uid) as session,
            psycopg.connect(db.url, autocommit=True, row_factory=dict_row) as per_call,
        ):
            me = root.as_user(user_id=uid)
            register_vector(per_call)

            def sdk(v: Vectors) -> int:
                return len(me.search.semantic(v, match_count=10, threshold=None))

            def raw_identity_per_call(v: Vectors) -> int:
                with per_call.pipeline():  # one implicit transaction, up to the pipeline's Sync
                    per_call.execute(q.SET_IDENTITY, q.identity_params(identity))
                    cur = per_call.execute(f"select * from {FUNCTION}", (v,))
                return len(cur.fetchall())

            def raw_rows(v: Vectors) -> int:
                return len(session.execute(f"select * from {FUNCTION}", (v,)).fetchall())

            def raw_ids(v: Vectors) -> int:
                return len(session.execute(f"select id from {FUNCTION}", (v,)).fetchall())

            def raw_ids_text(v: Vectors) -> int:
                return len(session.execute(f"select id from {FUNCTION}", (vector_text(v),)).fetchall())

            methods: list[tuple[str, Method]] = [
                ("SDK search.semantic (full SearchHit models)", sdk),
                ("raw psycopg, full rows, identity per call", raw_identity_per_call),
                ("raw psycopg, full rows", raw_rows),
                ("raw psycopg, ids", raw_ids),
                ("raw psycopg, ids, vector as text", raw_ids_text),
            ]
            measured = measure([m for _, m in methods], queries, args.queries)
            hits = me.search.semantic(queries[0], match_count=10, threshold=None)
            report = profile(sdk, queries, args.profile) if args.profile else ""

    print(
        f"\n{args.memories:,} memories, one user; {args.queries} timed calls per method "
        f"(after {WARMUP}), taken in turn; ranked by: {hits.method}\n"
    )
    print("| method | p50 ms | p95 ms | client CPU ms/call |")
    print("|---|---|---|---|")
    for (name, _), (p50, p95, cpu) in zip(methods, measured, strict=True):
        print(f"| {name} | {p50:.2f} | {p95:.2f} | {cpu:.3f} |")
    (sdk_p50, _, sdk_cpu), (floor_p50, _, floor_cpu) = measured[0], measured[1]
    print(
        f"\nSDK over the same calls by hand (identity per call): {sdk_p50 - floor_p50:+.2f} ms p50,"
        f" {sdk_cpu - floor_cpu:+.3f} ms CPU; over the session-level function returning ids:"
        f" {sdk_p50 - measured[3][0]:+.2f} ms p50"
    )
    if report:
        print(f"\ncProfile of {args.profile} SDK calls\n")
        print(report)


if __name__ == "__main__":
    main()

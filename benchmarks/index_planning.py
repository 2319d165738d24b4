"""What each per-user search index costs every statement on ``conversations``: planning time, by index count.

    .venv/bin/python benchmarks/index_planning.py [--counts 0,30,100,300,1000] [--repeat 40]

``phase3 db tune-search`` gives a large user a partial HNSW index of their own (``where user_id = '<user>'``).
The planner weighs every index of a table for each statement it plans there: for each search (whose graph
query is planned per call, so that the planner can prove the partial index's predicate from the caller's
id), for each read PostgREST sends (it plans every request), and each insert checks every partial index's
predicate. This measures that cost, so that ``tune_search``'s limit (``max_indexes``, default 100) is
chosen on numbers.

One embedded database, migrated; one user of 2,000 memories (random unit vectors) indexed by tune-search.
Then other users' indexes are added (the very statement tune-search runs, for users who have no rows, so
each builds in milliseconds; the planner does not look inside), and at each count three statements are
planned ``--repeat`` times (``EXPLAIN (SUMMARY)``'s planning time, median):

* ``search graph query``: the per-user graph scan ``semantic_search`` plans on each call (``enable_sort``
  off, as it sets);
* ``REST-style read``: ``select * from conversations where user_id = $1 order by created_at desc limit 10``;
* ``single-row insert``: an ``INSERT`` of one memory (``EXPLAIN ANALYZE`` in a rolled-back transaction:
  planning and execution, which opens every index and checks every partial predicate).

And ``semantic_search`` end to end (p50 over the same queries, as the user, one connection).
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import time
import uuid
from typing import Any

import numpy as np
import psycopg

from phase3_sdk import Phase3Client
from phase3_sdk.db.embedded import EmbeddedDatabase, create_auth_user
from phase3_sdk.db.tune import index_name, tune_search
from phase3_sdk.embeddings import vector_text

MEMORIES = 2000

GRAPH = (
    "explain (summary) select m.id from public.conversations m where m.user_id = %(u)s"
    " and m.embedding is not null and not m.is_deleted"
    " order by m.embedding_sketch operator(extensions.<~>)"
    " public.embedding_sketch(%(q)s::extensions.vector)::bit(2304) limit 50"
)
READ = (
    "explain (summary) select * from public.conversations where user_id = %(u)s"
    " order by created_at desc limit 10"
)
INSERT = (
    "explain (analyze, summary) insert into public.conversations (user_id, messages, embedding)"
    " values (%(u)s, '[]'::jsonb, %(q)s::extensions.vector)"
)
INDEX = (
    "create index {name} on public.conversations"
    " using hnsw (embedding_sketch extensions.bit_hamming_ops)"
    " with (m = 16, ef_construction = 400) where user_id = '{user}'::uuid and embedding is not null"
)


def times(conn: psycopg.Connection[Any], statement: str, params: dict[str, Any], repeat: int) -> float:
    """Median planning (+ execution, when EXPLAIN ANALYZE) time in ms."""
    found: list[float] = []
    for _ in range(repeat):
        with conn.transaction(force_rollback=True):
            conn.execute("set local enable_sort = off")
            plan = "\n".join(r[0] for r in conn.execute(statement, params).fetchall())
        total = sum(float(m) for m in re.findall(r"(?:Planning|Execution) Time: ([\d.]+) ms", plan))
        found.append(total)
    return statistics.median(found)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--counts", default="0,30,100,300,1000", help="other users' indexes, comma-separated")
    parser.add_argument("--repeat", type=int, default=40)
    args = parser.parse_args()
    counts = sorted(int(c) for c in args.counts.split(","))
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(MEMORIES, 768)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = [vector_text(v) for v in rng.normal(size=(args.repeat, 768)).astype(np.float32)]
    rows: list[tuple[int, float, float, float, float]] = []
    with EmbeddedDatabase() as db:
        db.setup()
        user = create_auth_user(db.url, "indexed@example.test")
        with Phase3Client.connect(db.url) as root:
            root.as_user(user_id=user).conversations.bulk_create(
                [
                    {"messages": [{"role": "user", "content": f"m{i}"}], "embedding": v}
                    for i, v in enumerate(vectors)
                ]
            )
        tune_search(db.url, min_memories=MEMORIES, ef_search=100)
        with psycopg.connect(db.url, autocommit=True) as su, psycopg.connect(db.url, autocommit=True) as me:
            su.execute("vacuum analyze public.conversations")
            me.execute(
                "select set_config('role', 'authenticated', false),"
                " set_config('request.jwt.claims', %s, false)",
                (json.dumps({"sub": str(user), "role": "authenticated"}),),
            )
            made = 0
            for count in counts:
                t = time.perf_counter()
                while made < count:
                    other = uuid.uuid4()
                    su.execute(INDEX.format(name=index_name(other), user=other))
                    made += 1
                built = time.perf_counter() - t
                params = {"u": user, "q": queries[0]}
                graph = times(su, GRAPH, params, args.repeat)
                read = times(su, READ, params, args.repeat)
                insert = times(su, INSERT, params, args.repeat)
                elapsed = []
                for q in queries + queries:
                    t = time.perf_counter()
                    me.execute(
                        "select id from public.semantic_search(%s::extensions.vector, 10)", (q,)
                    ).fetchall()
                    elapsed.append((time.perf_counter() - t) * 1000)
                search = statistics.median(elapsed[len(queries) :])
                rows.append((count, graph, read, insert, search))
                print(f"  {count} other indexes ({built:.0f} s to add): done", flush=True)
    print(
        f"\none user of {MEMORIES:,} memories with its own index;"
        f" {args.repeat} plans per statement, median ms"
    )
    print(
        "| other users' indexes | search graph query, planning | REST-style read, planning "
        "| single-row insert, plan + run | semantic_search p50 |"
    )
    print("|---|---|---|---|---|")
    for count, graph, read, insert, search in rows:
        print(f"| {count:,} | {graph:.2f} | {read:.2f} | {insert:.2f} | {search:.2f} |")


if __name__ == "__main__":
    main()

"""Per-user semantic search: this SDK's ``semantic_search`` vs ``vecs`` (HNSW) vs a plain exact scan.

    .venv/bin/python benchmarks/search.py                           # users of 1,000 / 10,000 / 100,000
    .venv/bin/python benchmarks/search.py --sizes 1000,10000 --queries 50

One throwaway embedded PostgreSQL. Each size is one user's memories; 20 other users with 1,000 memories
each share the table, so every method must filter by user. Vectors are 768-dimension unit vectors drawn
from a mixture of Gaussian clusters (32 themes x 8 topics), like real embeddings, not uniform noise;
queries come from the same mixture. Ground truth is the exact top 10 by cosine similarity (numpy).
Rows are loaded with ``bulk_create``; vecs 0.4.5 gets the same vectors with a ``user_id`` metadata field
in its own collection, an HNSW index (its defaults: cosine, ef_search 40) and the same filter.
Latency is wall time per call from Python, round trip included, after warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import numpy.typing as npt
import psycopg

from phase3_sdk import Phase3Client
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"
DIM = 768
OTHERS = 20
Vectors = npt.NDArray[np.float32]


def unit(x: npt.NDArray[Any]) -> Vectors:
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def topic_centres(rng: np.random.Generator) -> Vectors:
    themes = unit(rng.normal(size=(32, DIM)))
    return unit(np.repeat(themes, 8, axis=0) + rng.normal(scale=0.9 / np.sqrt(DIM), size=(256, DIM)))


def sample(rng: np.random.Generator, centres: Vectors, n: int) -> Vectors:
    # Each user talks about a subset of topics, each memory is near one of them.
    mine = rng.choice(len(centres), size=min(64, len(centres)), replace=False)
    picks = centres[rng.choice(mine, size=n)]
    return unit(picks + rng.normal(scale=0.9 / np.sqrt(DIM), size=(n, DIM)))


def timed(fn: Callable[[Vectors], list[str]], queries: Vectors) -> tuple[list[list[str]], list[float]]:
    for q in queries[:3]:
        fn(q)  # warm caches and plans; measured: the rest
    results, times = [], []
    for q in queries[3:]:
        t = time.perf_counter()
        results.append(fn(q))
        times.append((time.perf_counter() - t) * 1000)
    return results, times


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--no-vecs", action="store_true", help="skip vecs (its HNSW build takes ~1-2 min)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    rng = np.random.default_rng(42)
    centres = topic_centres(rng)

    with EmbeddedDatabase() as db:
        url = db.create_database("search")
        apply_shim(url)
        migrator.migrate(url, MIGRATIONS)
        people: list[tuple[str, uuid.UUID, Vectors, list[str]]] = []
        with Phase3Client.connect(url) as root:
            plan = [(f"user {n:,}", n) for n in sizes] + [(f"other {i}", 1000) for i in range(OTHERS)]
            t0 = time.perf_counter()
            for label, n in plan:
                uid = db.create_user(
                    f"{label.replace(' ', '-').replace(',', '')}@example.test", database="search"
                )
                vectors = sample(rng, centres, n)
                ids = [str(uuid.uuid4()) for _ in range(n)]
                rows = [
                    {"id": i, "messages": [{"role": "user", "content": "memory"}], "embedding": v}
                    for i, v in zip(ids, vectors, strict=True)
                ]
                t = time.perf_counter()
                root.as_user(user_id=uid).conversations.bulk_create(rows, batch_size=2000)
                print(f"loaded {label}: {n:,} rows, {n / (time.perf_counter() - t):,.0f} rows/s", flush=True)
                people.append((label, uid, vectors, ids))
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("vacuum analyze public.conversations")  # what autovacuum does after a load
            print(f"loaded everything in {time.perf_counter() - t0:.0f} s", flush=True)

            collection = None
            if not args.no_vecs:
                import vecs

                with psycopg.connect(url, autocommit=True) as conn:
                    # As on Supabase: pgvector's types are found through the extensions schema.
                    conn.execute('alter database search set search_path = "$user", public, extensions')
                host = parse_qs(urlparse(url).query)["host"][0]
                vx = vecs.create_client(f"postgresql+psycopg2://postgres@/search?host={host}")
                collection = vx.get_or_create_collection(name="memories", dimension=DIM)
                t = time.perf_counter()
                for _, uid, vectors, ids in people:
                    records = [(i, v, {"user_id": str(uid)}) for i, v in zip(ids, vectors, strict=True)]
                    for start in range(0, len(records), 5000):
                        collection.upsert(records=records[start : start + 5000])
                print(f"vecs: upserted in {time.perf_counter() - t:.0f} s", flush=True)
                t = time.perf_counter()
                collection.create_index(
                    measure=vecs.IndexMeasure.cosine_distance, method=vecs.IndexMethod.hnsw
                )
                print(f"vecs: HNSW index built in {time.perf_counter() - t:.0f} s", flush=True)

            table: list[tuple[str, str, float, float, float]] = []
            with psycopg.connect(url, autocommit=True) as conn:
                for label, uid, vectors, ids in people[: len(sizes)]:
                    queries = sample(rng, centres, args.queries + 3)
                    truth = [[ids[j] for j in np.argsort(-(vectors @ q))[:10]] for q in queries[3:]]
                    me = root.as_user(user_id=uid)

                    def sdk(q: Vectors, me: Phase3Client = me) -> list[str]:
                        return [str(h.id) for h in me.search.semantic(q, match_count=10, threshold=None)]

                    def exact(q: Vectors, uid: uuid.UUID = uid) -> list[str]:
                        text = "[" + ",".join(map(repr, q.tolist())) + "]"
                        rows = conn.execute(
                            "select id from public.conversations where user_id = %s and embedding is not null"
                            " order by embedding operator(extensions.<=>) %s::extensions.vector limit 10",
                            (uid, text),
                        ).fetchall()
                        return [str(r[0]) for r in rows]

                    methods: list[tuple[str, Callable[[Vectors], list[str]]]] = [
                        ("phase3 semantic_search", sdk)
                    ]
                    if collection is not None:

                        def vecs_query(q: Vectors, uid: uuid.UUID = uid) -> list[str]:
                            found = collection.query(
                                data=q,
                                limit=10,
                                filters={"user_id": {"$eq": str(uid)}},
                                measure="cosine_distance",
                            )
                            return [str(i) for i in found]

                        methods.append(("vecs (HNSW, ef_search 40)", vecs_query))
                    methods.append(("exact scan (btree + sort)", exact))
                    for name, fn in methods:
                        results, times = timed(fn, queries)
                        recall = statistics.mean(
                            len(set(r) & set(t)) / 10 for r, t in zip(results, truth, strict=True)
                        )
                        times.sort()
                        p95 = times[max(0, int(len(times) * 0.95) - 1)]
                        table.append((label, name, statistics.median(times), p95, recall))
                        print(f"  {label:14s} {name:28s} done", flush=True)

    print(f"\n{'memories':14s} {'method':28s} {'p50 ms':>8s} {'p95 ms':>8s} {'recall@10':>10s}")
    for label, name, p50, p95, recall in table:
        print(f"{label:14s} {name:28s} {p50:8.2f} {p95:8.2f} {recall:10.3f}")


if __name__ == "__main__":
    main()

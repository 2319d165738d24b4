"""Per-user semantic search: this SDK's ``semantic_search`` vs ``vecs`` (HNSW) vs a plain exact scan.

    .venv/bin/python benchmarks/search.py                           # users of 1,000 / 10,000 / 100,000
    .venv/bin/python benchmarks/search.py --sizes 1000,10000 --queries 50 --no-vecs

One throwaway embedded PostgreSQL (shared_buffers 128 MB, 2 cores). The SDK's rows live in database
``search``; vecs 0.4.5 gets the same vectors (``user_id`` in its metadata) in database ``vecs``, so its
HNSW index (its defaults: cosine, m 16, ef_search 40) shares no table or index with ours and is built
before anything is timed. Each size is one user's memories; 20 other users with 1,000 memories each share
the table, so every method must filter by user. After loading, both databases are vacuumed and analysed
(what autovacuum would do). The SDK is timed twice: first as loaded (no search cells: every memory is
ranked), then after ``tune_search`` (``phase3 db tune-search``) has trained the users' cells, which is the
state every other row is measured in. Each method is timed on its own, with queries of its own (drawn
from the same distribution: 20 to warm up, then the timed ones), so that each is measured in its steady
state and none is helped or hurt by another's cache traffic (see :func:`timed`).

Methods, per size:

* ``phase3 SDK``: ``client.search.semantic`` end to end: pool, transaction with role and JWT claims,
  the function, full rows validated into ``SearchHit`` models. ``no cells``: before tuning;
  ``exact=True``: every memory of the user compared with the query (recall 1 by construction).
* ``phase3 SQL``: the same function called on one psycopg connection as the same user, returning ids:
  what the database spends, comparable with the two rows below.
* ``vecs``: ``collection.query(..., filters={"user_id": {"$eq": ...}})`` (SQLAlchemy, psycopg2).
* ``exact scan``: ``where user_id = $1 order by embedding <=> $2 limit 10`` as the table owner (no RLS).

Recall@10 is against the exact top 10 by cosine similarity (numpy, float32). Latency is wall time per
call from Python, round trip included.

The data (see :class:`Corpus`): unit vectors that are clustered the way sentence embeddings are, not
uniform noise and not a handful of tight blobs. Measured properties of real embedding models that the
generator reproduces, each a knob below:

* A strong shared direction: two unrelated sentences typically have cosine similarity 0.2-0.4 with
  modern models (anisotropy). Here every vector carries a common mean direction with weight^2 0.30, so
  unrelated memories sit at ~0.3.
* Many topics, organised in themes, that overlap: 1,536 topic centres in 64 themes (topics of a theme
  share cosine ~0.45); a memory is about a main topic plus, with a random weight up to 0.6, a second
  one, so memories spread continuously between topics instead of piling onto a few points.
* Per-user interests: each user draws 256 of the topics with Dirichlet(0.5) weights, so a few topics
  dominate a user's history (a 100,000-memory user has several topics with thousands of memories).
  Queries are drawn from the same user's distribution: people search for what they talk about.
* Within-topic spread like real paraphrase spread: same-topic memories sit at cosine ~0.6-0.65 to each
  other and the true top 10 of a query at ~0.65-0.7, barely above the thousands of other memories of its
  topic, which is what makes per-user top 10 hard. The idiosyncratic part of each memory (weight^2
  0.35) is spread over all 768 directions with a power-law spectrum, variance of the i-th direction
  proportional to i^-0.5: real embeddings concentrate their variance in their leading principal
  components much more steeply (exponents near 1), so this errs on the hard side for any sketch.
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import numpy as np
import numpy.typing as npt
import psycopg

from phase3_sdk import Phase3Client
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.db.tune import tune_search

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"
DIM = 768
OTHERS = 20
WARMUP = 20
Vectors = npt.NDArray[np.float32]


def unit(x: npt.NDArray[Any]) -> Vectors:
    scaled: Vectors = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return scaled


@dataclass(frozen=True)
class User:
    topics: npt.NDArray[np.int64]
    weights: npt.NDArray[np.float64]


class Corpus:
    """Embedding-like unit vectors: shared mean + overlapping hierarchical topics + power-law noise."""

    MEAN_WEIGHT2 = 0.30  # cosine of two unrelated memories
    TOPIC_WEIGHT2 = 0.35  # what a memory's topic adds: same-topic memories at ~0.30 + 0.35
    THEMES, TOPICS_PER_THEME, THEME_SHARE = 64, 24, 0.45
    USER_TOPICS, USER_ALPHA, SECOND_TOPIC_MAX = 256, 0.5, 0.6
    NOISE_DECAY = 0.5

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.mean = unit(rng.normal(size=DIM))
        themes = unit(rng.normal(size=(self.THEMES, DIM)))
        own = unit(rng.normal(size=(self.THEMES * self.TOPICS_PER_THEME, DIM)))
        self.topics = unit(
            np.sqrt(self.THEME_SHARE) * np.repeat(themes, self.TOPICS_PER_THEME, axis=0)
            + np.sqrt(1 - self.THEME_SHARE) * own
        )
        rotation, _ = np.linalg.qr(rng.normal(size=(DIM, DIM)))
        spectrum = np.arange(1, DIM + 1, dtype=np.float64) ** -self.NOISE_DECAY
        # Scaled so that the noise has the same expected norm as isotropic N(0, 1/DIM) noise.
        self.noise_basis = (rotation * np.sqrt(spectrum / spectrum.mean())).T.astype(np.float32)

    def user(self) -> User:
        topics = self.rng.choice(len(self.topics), size=self.USER_TOPICS, replace=False)
        return User(topics, self.rng.dirichlet(np.full(self.USER_TOPICS, self.USER_ALPHA)))

    def sample(self, user: User, n: int) -> Vectors:
        main = self.rng.choice(user.topics, size=n, p=user.weights)
        second = self.rng.choice(user.topics, size=n, p=user.weights)
        blend = self.rng.uniform(0, self.SECOND_TOPIC_MAX, size=(n, 1)).astype(np.float32)
        about = unit(self.topics[main] + blend * self.topics[second])
        noise = (self.rng.normal(size=(n, DIM)).astype(np.float32) @ self.noise_basis) / np.sqrt(DIM)
        a, b = np.sqrt(self.MEAN_WEIGHT2), np.sqrt(self.TOPIC_WEIGHT2)
        return unit(a * self.mean + b * about + np.sqrt(1 - a * a - b * b) * noise)


def vector_text(q: Vectors) -> str:
    return "[" + ",".join(map(repr, q.tolist())) + "]"


Method = Callable[[Vectors], list[str]]


def timed(method: Method, queries: Vectors) -> tuple[list[list[str]], list[float]]:
    """The method's results and times (ms) for ``queries[WARMUP:]``, after ``queries[:WARMUP]``.

    Methods run one after the other, each in its own steady state, and each with queries of its own drawn
    from the same distribution. Interleaving methods query by query was tried: the exact scan (every heap
    page of the user) and vecs (a 400 MB graph) then evict everyone's pages between two queries, which
    measures that eviction. Sharing one query set was tried too: the first method to run a query reads the
    heap pages of its candidates into the cache, and every later method finds them there.
    """
    for q in queries[:WARMUP]:
        method(q)
    results, times = [], []
    for q in queries[WARMUP:]:
        t = time.perf_counter()
        results.append(method(q))
        times.append((time.perf_counter() - t) * 1000)
    return results, times


Person = tuple[str, uuid.UUID, Vectors, list[str], User]


def load(db: EmbeddedDatabase, corpus: Corpus, sizes: list[int], others: int) -> tuple[str, list[Person]]:
    """The ``search`` database, migrated, with one user per size and ``others`` 1,000-memory users."""
    url = db.create_database("search")
    apply_shim(url)
    migrator.migrate(url, MIGRATIONS)
    people: list[Person] = []
    plan = [(f"{n:,}", n) for n in sizes] + [(f"other {i}", 1000) for i in range(others)]
    t0 = time.perf_counter()
    with Phase3Client.connect(url) as root:
        for label, n in plan:
            slug = label.replace(" ", "-").replace(",", "")
            uid = db.create_user(f"user-{slug}@example.test", database="search")
            user = corpus.user()
            vectors = corpus.sample(user, n)
            ids = [str(uuid.uuid4()) for _ in range(n)]
            rows = [
                {"id": i, "messages": [{"role": "user", "content": "memory"}], "embedding": v}
                for i, v in zip(ids, vectors, strict=True)
            ]
            root.as_user(user_id=uid).conversations.bulk_create(rows, batch_size=2000)
            people.append((label, uid, vectors, ids, user))
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.conversations")  # what autovacuum does after a load
    total = sum(n for _, n in plan)
    print(f"phase3: loaded {total:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    return url, people


def load_vecs(db: EmbeddedDatabase, people: list[Person]) -> Any:
    """vecs' collection in a database of its own, HNSW index built, vacuumed."""
    import vecs

    url = db.create_database("vecs")
    with psycopg.connect(url, autocommit=True) as conn:
        # The HNSW graph of 131,000 x 768 needs ~0.5 GB; with less it spills and takes minutes.
        conn.execute("alter database vecs set maintenance_work_mem = '1GB'")
    host = parse_qs(urlparse(url).query)["host"][0]
    collection = vecs.create_client(
        f"postgresql+psycopg2://postgres@/vecs?host={host}"
    ).get_or_create_collection(name="memories", dimension=DIM)
    t = time.perf_counter()
    for _, uid, vectors, ids, _ in people:
        records = [(i, v, {"user_id": str(uid)}) for i, v in zip(ids, vectors, strict=True)]
        for start in range(0, len(records), 5000):
            collection.upsert(records=records[start : start + 5000])
    t_index = time.perf_counter()
    collection.create_index(measure=vecs.IndexMeasure.cosine_distance, method=vecs.IndexMethod.hnsw)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze vecs.memories")
    print(
        f"vecs: upserted in {t_index - t:.0f} s, HNSW index built in {time.perf_counter() - t_index:.0f} s",
        flush=True,
    )
    return collection


def tune(url: str) -> None:
    """Train the search cells of every user large enough to have them, as ``phase3 db tune-search`` does."""
    t = time.perf_counter()
    report = tune_search(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.conversations")  # the assignment rewrote the tuned users' rows
    print(f"phase3: {report.summary()}; with the vacuum after, {time.perf_counter() - t:.0f} s", flush=True)


def as_user_sql(url: str, uid: uuid.UUID) -> psycopg.Connection[Any]:
    """A connection acting as ``uid`` for its whole session, as the SDK does per transaction."""
    conn = psycopg.connect(url, autocommit=True)
    conn.execute(
        "select set_config('role', 'authenticated', false), set_config('request.jwt.claims', %s, false)",
        (f'{{"sub": "{uid}", "role": "authenticated"}}',),
    )
    return conn


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--queries", type=int, default=50, help="timed queries per method and size")
    parser.add_argument("--others", type=int, default=OTHERS, help="other users with 1,000 memories")
    parser.add_argument("--no-vecs", action="store_true", help="skip vecs (its HNSW build takes ~1 min)")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    corpus = Corpus(np.random.default_rng(42))
    t_start = time.perf_counter()

    table: list[tuple[str, str, float, float, float]] = []
    with EmbeddedDatabase() as db:
        url, people = load(db, corpus, sizes, args.others)
        collection = None if args.no_vecs else load_vecs(db, people)
        measured = people[: len(sizes)]

        def measure(person: Person, name: str, method: Method) -> None:
            """Time ``method`` on fresh queries of ``person``'s and record p50, p95 and recall@10."""
            label, _, vectors, ids, user = person
            queries = corpus.sample(user, args.queries + WARMUP)
            truth = [[ids[j] for j in np.argsort(-(vectors @ q))[:10]] for q in queries[WARMUP:]]
            results, times = timed(method, queries)
            recall = statistics.mean(len(set(r) & set(t)) / 10 for r, t in zip(results, truth, strict=True))
            times = sorted(times)
            table.append(
                (label, name, statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)], recall)
            )
            print(f"  {label:>8s} {name:27s} done", flush=True)

        def sdk_for(client: Phase3Client, *, exact: bool = False) -> Method:
            def sdk(q: Vectors) -> list[str]:
                hits = client.search.semantic(q, match_count=10, threshold=None, exact=exact)
                return [str(h.id) for h in hits]

            return sdk

        with Phase3Client.connect(url) as root:
            for person in measured:
                measure(person, "phase3 SDK, no cells", sdk_for(root.as_user(user_id=person[1])))
            tune(url)
            with psycopg.connect(url, autocommit=True) as conn:
                for person in measured:
                    uid = person[1]
                    as_user = as_user_sql(url, uid)

                    def sql(q: Vectors, as_user: psycopg.Connection[Any] = as_user) -> list[str]:
                        rows = as_user.execute(
                            "select id from public.semantic_search(%s::extensions.vector, 10)",
                            (vector_text(q),),
                        ).fetchall()
                        return [str(r[0]) for r in rows]

                    def exact(q: Vectors, uid: uuid.UUID = uid) -> list[str]:
                        rows = conn.execute(
                            "select id from public.conversations where user_id = %s and embedding is not null"
                            " order by embedding operator(extensions.<=>) %s::extensions.vector limit 10",
                            (uid, vector_text(q)),
                        ).fetchall()
                        return [str(r[0]) for r in rows]

                    measure(person, "phase3 SDK (semantic)", sdk_for(root.as_user(user_id=uid)))
                    measure(person, "phase3 SDK, exact=True", sdk_for(root.as_user(user_id=uid), exact=True))
                    measure(person, "phase3 SQL (function)", sql)
                    if collection is not None:

                        def vecs_query(q: Vectors, uid: uuid.UUID = uid) -> list[str]:
                            found = collection.query(
                                data=q,
                                limit=10,
                                filters={"user_id": {"$eq": str(uid)}},
                                measure="cosine_distance",
                            )
                            return [str(i) for i in found]

                        measure(person, "vecs (HNSW, ef_search 40)", vecs_query)
                    measure(person, "exact scan (btree + sort)", exact)
                    as_user.close()

    print(f"\n{'memories':>8s} {'method':27s} {'p50 ms':>8s} {'p95 ms':>8s} {'recall@10':>10s}")
    for label, name, p50, p95, recall in sorted(
        table, key=lambda row: sizes.index(int(row[0].replace(",", "")))
    ):
        print(f"{label:>8s} {name:27s} {p50:8.2f} {p95:8.2f} {recall:10.3f}")
    print(f"\n(whole run: {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()

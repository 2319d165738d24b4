"""Per-user semantic search on real text: this SDK's ``semantic_search`` vs pgvector's own indexes.

    .venv/bin/python benchmarks/search.py                          # 1k, 5k, 20k per user, real text
    .venv/bin/python benchmarks/search.py --sizes 100000           # the large user (~15 min on 2 cores)
    .venv/bin/python benchmarks/search.py --data generated         # the synthetic corpus instead

The data (``--data docs``, the default): documentation nobody here wrote, the docstrings of the Python
standard library and of every package installed beside it (paragraphs, then single sentences of longer
ones when more texts are needed), deduplicated, shuffled with a fixed seed and embedded with WordLlama
(:class:`~phase3_sdk.embeddings.WordLlamaEmbedder`: 256 dimensions, rotated into 768). The texts depend on
what is installed, so the run prints how many there are and a digest of them. Queries are held-out texts
(never stored): people search with words of their own, not with a memory's exact text. ``--data
generated`` is the earlier synthetic corpus (clustered unit vectors, :class:`Corpus`): kinder than real
embeddings, kept for comparison. Embeddings are cached (``--cache``).

The server is a throwaway embedded PostgreSQL with Supabase Small's shared_buffers, 512MB
(``--shared-buffers``; PostgreSQL's default is 128MB). Each size is its own throwaway database: one user
holding that many memories beside ``--others`` users of 1,000 (so every method must find one user's rows in
a shared table), loaded through the SDK (``bulk_create``), vacuumed and analysed. The baselines get copies
of the same table (every column, stored alike), so that no index of theirs is seen by the SDK's queries, or
ours by theirs; each returns what the SDK returns, the memories' columns and their similarity (one row,
``ids only``, returns ids alone, as the baselines did before 0.2.0). Each is run at its fastest: on a
connection of its own, its settings set once for the session, the query vector sent in binary by pgvector's
own adapter, one statement a query:

* ``pgvector HNSW``: one index over the whole table (m 16, ef_construction 64; ef_search 100), queried
  ``where user_id = $1 order by embedding <=> $2 limit 10`` with ``hnsw.iterative_scan`` set to
  ``strict_order`` or ``relaxed_order`` (pgvector 0.8's answer to filtered queries), the planner choosing
  the plan, as an app that adds the index gets; and again with the index forced (``enable_sort`` off), its
  strongest form: at 20,000 memories the planner took the index in one run and sorted the user's rows
  (50 ms, recall 1) in the next, on the same data.
* ``pgvector IVFFlat``: lists = rows / 1000, probes 10, ``ivfflat.iterative_scan = relaxed_order``.
* ``exact scan``: the same query through a ``(user_id)`` btree index, sorting that user's rows.

These run as the table's owner, whom RLS does not apply to. One more, ``as the user``, is the HNSW query as
the SDK and PostgREST make it for a user: under the owner policy ``public.conversations`` has, with the role
and the user's JWT claims set for that statement alone and sent with it in one round trip. It is the like
for like of the SDK's row: a search an app runs for its signed-in user.

The SDK is timed end to end (``client.search.semantic``: pool, transaction with role and JWT claims, the
function, full rows validated into models) before ``tune_search`` (``phase3 db tune-search``) and after
it, with ``exact=True``, and as its SQL function alone on one connection (every column, no models).
``method`` is how the function said it ranked (``exact``, ``hnsw``, ``sketch``).

Every method gets queries of its own, drawn from the same held-out pool, so that none finds another's
pages in the cache. The methods of one size (after tune-search) take turns in blocks (10 untimed queries,
then 25 timed; ``--queries`` timed in all), each round in its own shuffled order, so that all meet the
same load and each works on its own pages, as in an app that uses it alone (see
``Timing.measure_together``; ``--rotate-queries`` takes turns query by query instead). ``--same-queries``
gives every method the same queries instead, for p50s taken on one query set: at 100,000 memories two draws
of 300 queries differ in the SDK's p50 by 0.19 ms (median; 0.65 at the 95th percentile). The methods on one
table (the SDK's three rows; the HNSW rows on theirs) then find each other's pages cached.
recall@10 is against the exact top 10 by cosine similarity (numpy; a hit as similar as the true 10th
counts, since duplicate texts tie), as the mean, the worst single query and how many queries fell below
0.9. It is measured untimed, after the timings, on ``--recall-queries`` held-out queries (1,000; the same
for every method): a worst query over the 100-300 timed ones is a coin toss when a few queries in 1,000
fall to 0.8, as the SDK's do at 100,000 memories. Those are queries that join two topics ("The result is
deliberately discarded to ensure that all cycles are found."): the graph walk returns one topic's memories
and misses two of the other's, the 3rd most similar among them, while its 10th hit is only 0.003-0.01 less
similar than the true 10th. A method slower than 50 ms a query scans, and keeps the recall of its timed
queries. Latency is wall time per call from Python, round trip included; p50 and p95.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import re
import shutil
import statistics
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import psycopg
from pgvector.psycopg.vector import register_vector_info
from psycopg.types import TypeInfo

from phase3_sdk import Phase3Client
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.db.tune import tune_search
from phase3_sdk.embeddings import WordLlamaEmbedder

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"
DIM = 768
OTHERS = 20
WARMUP = 20
# Timed queries per method and turn, and the untimed ones before them (see Timing.measure_together).
BLOCK, BLOCK_WARMUP = 25, 10
SEED = 7
#: Held-out queries each method's recall is measured on (see the module's docstring).
RECALL_QUERIES = 1000
Vectors = npt.NDArray[np.float32]


def unit(x: npt.NDArray[Any]) -> Vectors:
    scaled: Vectors = (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)
    return scaled


# -- the real corpus ----------------------------------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


def _readable(text: str, shortest: int = 60) -> bool:
    """Prose, not a code sample or a table: long enough and mostly letters and spaces."""
    return shortest <= len(text) <= 1000 and sum(c.isalpha() or c == " " for c in text) > 0.85 * len(text)


def documentation_texts() -> list[str]:
    """Docstring paragraphs of the standard library and installed packages, then sentences of long ones."""
    roots = sorted(
        {Path(sysconfig.get_paths()[k]) for k in ("stdlib", "purelib")}
        | {Path(p) for p in sys.path if "site-packages" in p}
    )
    paragraphs: dict[str, None] = {}
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            if {"test", "tests"} & set(path.parts):
                continue
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                    doc = ast.get_docstring(node)
                    for block in re.split(r"\n\s*\n", doc or ""):
                        text = " ".join(block.split())
                        if _readable(text):
                            paragraphs[text] = None
    texts = dict(paragraphs)
    for paragraph in paragraphs:
        sentences = _SENTENCE.split(paragraph)
        if len(sentences) > 1:
            for sentence in sentences:
                if _readable(sentence, shortest=40):
                    texts.setdefault(sentence, None)
    ordered = sorted(texts)
    np.random.default_rng(SEED).shuffle(ordered)
    return ordered


@dataclass
class TextCorpus:
    texts: list[str]
    vectors: Vectors

    @classmethod
    def load(cls, cache: Path, needed: int) -> TextCorpus:
        """The documentation corpus, embedded (cached by the digest of its texts)."""
        t = time.perf_counter()
        texts = documentation_texts()
        digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:12]
        print(
            f"corpus: {len(texts):,} documentation texts (digest {digest}) in {time.perf_counter() - t:.0f} s"
        )
        if len(texts) < needed:
            raise SystemExit(f"the installed packages give {len(texts):,} texts; this run needs {needed:,}")
        cache.mkdir(parents=True, exist_ok=True)
        stored = cache / f"docs-wordllama-{digest}.npy"
        if stored.exists():
            vectors = np.load(stored)
        else:
            t = time.perf_counter()
            vectors = WordLlamaEmbedder().embed_array(texts)
            np.save(stored, vectors)
            print(f"corpus: embedded with WordLlama in {time.perf_counter() - t:.0f} s (cached in {stored})")
        return cls(texts, vectors)


# -- the generated corpus --------------------------------------------------------------------------------


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


# -- a data set, split into users and held-out queries --------------------------------------------------


@dataclass
class Person:
    label: str
    uid: uuid.UUID
    ids: list[str]
    vectors: Vectors
    texts: list[str]
    queries: Vectors  # held out: never stored


class Data:
    """Per size: the measured user's memories, the other users', and held-out queries."""

    def __init__(
        self, kind: str, cache: Path, sizes: list[int], others: int, queries: int, recall_queries: int = 0
    ) -> None:
        self.kind = kind
        # Enough held-out queries for every method's own (see Timing), and for the recall set.
        self.pool = max((queries + 2 * WARMUP) * 12, recall_queries)
        if kind == "docs":
            corpus = TextCorpus.load(cache, max(sizes) + others * 1000 + self.pool)
            self.texts, self.vectors = corpus.texts, corpus.vectors
        else:
            self.generated = Corpus(np.random.default_rng(42))

    def split(
        self, size: int, others: int
    ) -> tuple[tuple[Vectors, list[str], Vectors], list[tuple[Vectors, list[str]]]]:
        """(vectors, texts, held-out queries) of the measured user; (vectors, texts) of each other user."""
        if self.kind == "docs":
            queries = self.vectors[: self.pool]
            start = self.pool
            mine = (self.vectors[start : start + size], self.texts[start : start + size], queries)
            rest = []
            start += size
            for _ in range(others):
                rest.append((self.vectors[start : start + 1000], self.texts[start : start + 1000]))
                start += 1000
            return mine, rest
        user = self.generated.user()
        vectors = self.generated.sample(user, size)
        mine = (vectors, ["memory"] * size, self.generated.sample(user, self.pool))
        rest = []
        for _ in range(others):
            vectors = self.generated.sample(self.generated.user(), 1000)
            rest.append((vectors, ["memory"] * 1000))
        return mine, rest


def load(db: EmbeddedDatabase, name: str, data: Data, size: int, others: int) -> tuple[str, Person]:
    """A migrated database ``name`` with the measured user and ``others`` users of 1,000 memories."""
    url = db.create_database(name)
    apply_shim(url)
    migrator.migrate(url, MIGRATIONS)
    (vectors, texts, queries), rest = data.split(size, others)
    t0 = time.perf_counter()
    person: Person | None = None
    with Phase3Client.connect(url) as root:
        for i, (v, tx) in enumerate([(vectors, texts), *rest]):
            uid = db.create_user(f"user-{i}@example.test", database=name)
            ids = [str(uuid.uuid4()) for _ in range(len(v))]
            rows = [
                # PostgreSQL text cannot hold NUL, which a few docstrings spell out literally.
                {"id": m, "messages": [{"role": "user", "content": t.replace("\x00", " ")}], "embedding": e}
                for m, t, e in zip(ids, tx, v, strict=True)
            ]
            root.as_user(user_id=uid).conversations.bulk_create(rows, batch_size=2000)
            if i == 0:
                person = Person(f"{size:,}", uid, ids, vectors, texts, queries)
    assert person is not None
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze public.conversations")  # what autovacuum does after a load
    print(f"  {name}: loaded {size + others * 1000:,} rows in {time.perf_counter() - t0:.0f} s", flush=True)
    return url, person


def load_baselines(url: str) -> None:
    """The same rows in tables of pgvector's own indexes (HNSW, IVFFlat), built before anything is timed."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("set maintenance_work_mem = '1GB'")
        conn.execute("create schema if not exists bench")
        t = time.perf_counter()
        for table in ("hnsw", "ivf"):
            # A whole copy, stored as the SDK's table is (the embedding inline): an app that adds pgvector's
            # index to its table reads its memories from the rows the index points at.
            conn.execute(f"create table bench.{table} (like public.conversations including storage)")
            conn.execute(f"insert into bench.{table} select * from public.conversations")
            conn.execute(f"create index on bench.{table} (user_id)")
        conn.execute(
            "create index on bench.hnsw using hnsw (embedding extensions.vector_cosine_ops)"
            " with (m = 16, ef_construction = 64)"
        )
        # The owner policy public.conversations has, for the baseline run as the user (the superuser's
        # baselines bypass it).
        conn.execute("alter table bench.hnsw enable row level security")
        conn.execute(
            "create policy owner on bench.hnsw for select to authenticated"
            " using ((select auth.uid()) = user_id)"
        )
        conn.execute("grant usage on schema bench to authenticated")
        conn.execute("grant select on bench.hnsw to authenticated")
        t_hnsw = time.perf_counter() - t
        rows = conn.execute("select count(*) from bench.ivf").fetchone()
        lists = max(10, (rows[0] if rows else 0) // 1000)
        conn.execute(
            "create index on bench.ivf using ivfflat (embedding extensions.vector_cosine_ops)"
            f" with (lists = {lists})"
        )
        conn.execute("vacuum analyze bench.hnsw")
        conn.execute("vacuum analyze bench.ivf")
    print(
        f"  baselines: HNSW built in {t_hnsw:.0f} s, IVFFlat ({lists} lists) after it,"
        f" {time.perf_counter() - t:.0f} s in all",
        flush=True,
    )


Method = Callable[[Vectors], list[str]]


def recall_at_10(person: Person, q: Vectors, got: list[str]) -> float:
    """recall@10 of ``got`` for ``q`` against ``person``'s exact top 10 by cosine similarity.

    Tie-aware, as ann-benchmarks counts: a hit is right if it is at least as similar as the true 10th
    (within float32 rounding). The corpus has duplicate sentences, whose identical embeddings tie, and which
    of two tied memories comes 10th is arbitrary.
    """
    sims = person.vectors @ q
    tenth = np.partition(sims, -10)[-10]
    similar = {person.ids[j] for j in np.flatnonzero(sims >= tenth - 1e-6)}
    return min(10, len(similar & set(got[:10]))) / 10


@dataclass(frozen=True)
class Recall:
    """recall@10 over a query set: the mean, the worst query, and how many queries fell below 0.9."""

    mean: float
    worst: float
    below: int
    queries: int

    @classmethod
    def of(cls, values: list[float]) -> Recall:
        """The recall of a query set from each query's recall@10."""
        return cls(statistics.mean(values), min(values), sum(v < 0.9 for v in values), len(values))

    def cells(self) -> str:
        """The table's recall cells: mean, worst query, queries below 0.9 (of how many)."""
        return f"{self.mean:.3f} | {self.worst:.1f} | {self.below} of {self.queries:,}"


def recall_over(person: Person, method: Method, queries: Vectors) -> Recall:
    """:class:`Recall` of ``method`` on ``queries``, untimed."""
    return Recall.of([recall_at_10(person, q, method(q)) for q in queries])


class Timing:
    """Each method's queries: a slice of the held-out pool (its own, or with ``same`` one slice for all), some
    to warm up, then the timed ones."""

    def __init__(self, person: Person, queries: int, *, by_query: bool = False, same: bool = False) -> None:
        self.person, self.queries, self.by_query, self.same, self.next = person, queries, by_query, same, 0
        self.rounds = -(-queries // BLOCK)

    def take(self) -> Vectors:
        n = self.queries + WARMUP if self.by_query else self.rounds * (BLOCK_WARMUP + BLOCK)
        pool = self.person.queries
        chosen = pool[(np.arange(self.next, self.next + n)) % len(pool)]
        self.next += n
        return chosen

    def measure(self, method: Method) -> tuple[float, float, Recall]:
        """p50, p95 (ms) and recall@10 of ``method`` on fresh queries."""
        return self.measure_together([method])[0]

    def schedule(self, methods: int) -> list[tuple[int, int, bool]]:
        """The calls in order: (method, index into its queries, timed?)."""
        calls: list[tuple[int, int, bool]] = []
        if self.by_query:
            for i in range(self.queries + WARMUP):
                for m in range(methods):
                    calls.append(((m + i) % methods, i, i >= WARMUP))
            return calls
        # Each round in its own order (seeded): a rotation keeps every method behind the same one, so the
        # method after a scan of the whole table always started cold and the one after it warm (at 100,000
        # memories the SDK, behind the exact scan, measured 1.2-1.9 ms above its own SQL function, behind
        # the SDK; 0.2 ms apart when timed alone).
        rng = np.random.default_rng(7)
        for r in range(self.rounds):
            timed = min(BLOCK, self.queries - r * BLOCK)
            for m in rng.permutation(methods).tolist():
                for j in range(BLOCK_WARMUP + timed):
                    calls.append((m, r * (BLOCK_WARMUP + BLOCK) + j, j >= BLOCK_WARMUP))
        return calls

    def measure_together(self, methods: list[Method]) -> list[tuple[float, float, Recall]]:
        """:meth:`measure` of each method, taken in turn (each on queries of its own).

        Measured one after the other, a method's numbers depended on what ran before it (a search right
        after tune-search and its vacuum found fewer pages cached than the same function after the exact
        scans had read the table) and on the machine's load at that minute. So the methods take turns, in
        blocks of :data:`BLOCK` timed queries after :data:`BLOCK_WARMUP` untimed ones, the order shuffled
        each round: every method meets the same load, and works on its own pages as it would in an app
        that uses it alone. Turn by turn query by query (``--rotate-queries``), the scans read tens of MB
        each between any two queries of an index method, which then finds none of its pages in the
        server's 128 MB of shared buffers: that measures the page cache more than the methods.
        """
        # The same queries for all: p50s compared query set for query set. Queries of their own keep each
        # method off the others' pages, but at 100,000 memories the SDK's queries take 3 to 45 ms by how
        # hard they are, and two draws of 300 differ in p50 by 0.19 ms (median; 0.65 at the 95th
        # percentile), as much as the methods may differ.
        slices = [self.take()] * len(methods) if self.same else [self.take() for _ in methods]
        times: list[list[float]] = [[] for _ in methods]
        recalls: list[list[float]] = [[] for _ in methods]
        for m, i, timed in self.schedule(len(methods)):
            q = slices[m][i]
            t = time.perf_counter()
            got = methods[m](q)
            elapsed = (time.perf_counter() - t) * 1000
            if not timed:
                continue
            times[m].append(elapsed)
            recalls[m].append(recall_at_10(self.person, q, got))
        stats = []
        for ts, rs in zip(times, recalls, strict=True):
            ts.sort()
            stats.append((statistics.median(ts), ts[max(0, int(len(ts) * 0.95) - 1)], Recall.of(rs)))
        return stats


def binary_vectors(conn: psycopg.Connection[Any]) -> psycopg.Connection[Any]:
    """``conn`` sending numpy vectors in binary, as pgvector's own adapter does (``register_vector``, here
    for the type in ``extensions``): what an app using pgvector from Python sends."""
    info = TypeInfo.fetch(conn, "extensions.vector")
    if info is None:
        raise SystemExit("extensions.vector is missing: the database is not migrated")
    register_vector_info(conn, info)
    return conn


def user_claims(uid: uuid.UUID) -> str:
    """The JWT claims of a signed-in ``uid``, as ``request.jwt.claims`` holds them."""
    return f'{{"sub": "{uid}", "role": "authenticated"}}'


def as_user_sql(url: str, uid: uuid.UUID) -> psycopg.Connection[Any]:
    """A connection acting as ``uid`` for its whole session, as the SDK does per transaction."""
    conn = binary_vectors(psycopg.connect(url, autocommit=True))
    conn.execute(
        "select set_config('role', 'authenticated', false), set_config('request.jwt.claims', %s, false)",
        (user_claims(uid),),
    )
    return conn


Row = tuple[str, str, str, float, float, Recall]

#: A method whose timed p50 is above this (ms) scans: its recall over the timed queries is kept, where the
#: recall set would cost it minutes (1,000 queries of the exact scan at 100,000 memories: ~3 min).
SCAN_MS = 50.0

#: What a baseline query returns: what ``semantic_search`` returns (a memory's columns and its similarity),
#: since an app searches to read the memories it finds, and the SDK's p50 includes reading them.
MEMORY = (
    "id, user_id, instance_key, messages, primary_emotion, secondary_emotions, valence, arousal, dominance,"
    " novelty, self_relevance, emotional_salience, salience_tier, extracted_topics, decay_multiplier,"
    " user_marked_important, is_deleted, attachment_context, prospective_self_context, created_at,"
    " updated_at, 1 - (embedding operator(extensions.<=>) %(q)s) as similarity"
)


def run_size(db: EmbeddedDatabase, data: Data, size: int, args: argparse.Namespace) -> list[Row]:
    """Every method on one database holding a ``size``-memory user beside the others."""
    url, person = load(db, f"search_{size}", data, size, args.others)
    load_baselines(url)
    timing = Timing(person, args.queries, by_query=args.rotate_queries, same=args.same_queries)
    # The same held-out queries for every method's recall, untimed.
    recall_set = person.queries[: args.recall_queries]

    def recall_of(method: Method, p50: float, timed: Recall) -> Recall:
        if not len(recall_set) or p50 > SCAN_MS:
            return timed
        return recall_over(person, method, recall_set)

    rows: list[Row] = []
    # How each SDK method said it ranked, by method name.
    seen: dict[str, set[str]] = {}

    def sdk_for(name: str, client: Phase3Client, *, exact: bool = False) -> Method:
        def sdk(q: Vectors) -> list[str]:
            hits = client.search.semantic(q, match_count=10, threshold=None, exact=exact)
            if hits.method is not None:
                seen.setdefault(name, set()).add(hits.method)
            return [str(h.id) for h in hits]

        return sdk

    with Phase3Client.connect(url) as root:
        me = root.as_user(user_id=person.uid)
        if not args.skip_untuned:
            name = "phase3 SDK, before tune-search"
            method = sdk_for(name, me)
            p50, p95, timed = timing.measure(method)
            recall = recall_of(method, p50, timed)
            rows.append((person.label, name, " / ".join(sorted(seen.get(name, ()))), p50, p95, recall))
        t = time.perf_counter()
        report = tune_search(url, ef_search=args.ef_search)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("vacuum analyze public.conversations")
        print(
            f"  tune-search: {report.summary()}; {time.perf_counter() - t:.0f} s with the vacuum", flush=True
        )
        for user in report.tuned:
            print(f"    {user.describe()}", flush=True)

        claims = user_claims(person.uid)
        with as_user_sql(url, person.uid) as as_user, ExitStack() as connections:

            def sql(q: Vectors) -> list[str]:
                # Every column, as the SDK reads them and the baselines return them.
                found = as_user.execute("select * from public.semantic_search(%s, 10)", (q,)).fetchall()
                seen.setdefault("phase3 SQL function", set()).update(str(r[-1]) for r in found)
                return [str(r[0]) for r in found]

            def baseline(
                table: str,
                settings: str,
                order: str = "embedding operator(extensions.<=>) %(q)s",
                columns: str = MEMORY,
                *,
                as_user: bool = False,
            ) -> Method:
                # A connection of its own: psycopg prepares a statement run five times, and the server plans a
                # prepared statement once for all the settings it later runs under. The forced and planner's
                # variants send the same text, so on one connection each ran with the plan of whichever
                # came first (at 1,000 memories: "forced" sorting the user's rows, recall 1.000 in 1.6 ms).
                # At its fastest, as an app would hold it: the settings once for the session, the vector in
                # binary (pgvector's own adapter), one statement a query. Before 0.2.0 the vector went as text
                # and the settings as SET LOCAL in a transaction per query: 0.35-0.45 ms more at 1,000
                # memories.
                conn = connections.enter_context(binary_vectors(psycopg.connect(url, autocommit=True)))
                if settings:
                    conn.execute(settings)
                statement = (
                    f"select {columns} from bench.{table} where user_id = %(u)s order by {order} limit 10"
                )

                def query(q: Vectors) -> list[str]:
                    found = conn.execute(statement, {"u": person.uid, "q": q}).fetchall()
                    return [str(r[0]) for r in found]

                def query_as_user(q: Vectors) -> list[str]:
                    # As the SDK (and PostgREST) query for a user: the role and the user's claims set for
                    # this statement alone, sent with it in one round trip (one implicit transaction).
                    with conn.pipeline():
                        conn.execute(
                            "select set_config('role', 'authenticated', true),"
                            " set_config('request.jwt.claims', %s, true)",
                            (claims,),
                        )
                        cur = conn.execute(statement, {"u": person.uid, "q": q})
                    return [str(r[0]) for r in cur.fetchall()]

                return query_as_user if as_user else query

            hnsw = "set hnsw.ef_search = 100; set hnsw.iterative_scan = {}"
            # enable_sort off: the only other plan for the ordering is to sort the user's rows, which the
            # planner picks for some sizes and statistics: the rows below without "index forced".
            forced = "; set enable_sort = off"
            methods: list[tuple[str, Method]] = [
                ("phase3 SDK (semantic)", sdk_for("phase3 SDK (semantic)", me)),
                ("phase3 SQL function", sql),
                (
                    "pgvector HNSW + iterative scan (strict), index forced",
                    baseline("hnsw", hnsw.format("strict_order") + forced),
                ),
                (
                    "pgvector HNSW + iterative scan (relaxed), index forced",
                    baseline("hnsw", hnsw.format("relaxed_order") + forced),
                ),
                # As the baselines were measured before 0.2.0: ids alone, no memory read or sent.
                (
                    "pgvector HNSW + iterative scan (strict), index forced, ids only",
                    baseline("hnsw", hnsw.format("strict_order") + forced, columns="id"),
                ),
                # What may scan: the SDK's exact path, pgvector's HNSW as the planner plans it, the rest.
                ("phase3 SDK, exact=True", sdk_for("phase3 SDK, exact=True", me, exact=True)),
                ("pgvector HNSW + iterative scan (strict)", baseline("hnsw", hnsw.format("strict_order"))),
                ("pgvector HNSW + iterative scan (relaxed)", baseline("hnsw", hnsw.format("relaxed_order"))),
                # Like for like with the SDK's row: the same statement as the user, under RLS.
                (
                    "pgvector HNSW + iterative scan (strict), as the user: RLS, identity per query",
                    baseline("hnsw", hnsw.format("strict_order"), as_user=True),
                ),
                (
                    "pgvector IVFFlat + iterative scan, probes 10",
                    baseline("ivf", "set ivfflat.probes = 10; set ivfflat.iterative_scan = relaxed_order"),
                ),
                # + 0: no index can order by it: the (user_id) index and a sort, whatever the planner likes.
                (
                    "exact scan, (user_id) index",
                    baseline("ivf", "", "(embedding operator(extensions.<=>) %(q)s) + 0"),
                ),
            ]
            measured = timing.measure_together([m for _, m in methods])
            recalls = [
                recall_of(m, p50, timed) for (_, m), (p50, _, timed) in zip(methods, measured, strict=True)
            ]
    for (name, _), (p50, p95, _), recall in zip(methods, measured, recalls, strict=True):
        rows.append((person.label, name, " / ".join(sorted(seen.get(name, ()))), p50, p95, recall))
    db.drop_database(f"search_{size}")  # the next size needs the disk and the cache
    return rows


#: The server's shared_buffers by default: what Supabase sets on its Small compute (2 cores, 2 GB of memory;
#: 256MB on Micro, 1 GB), the 2-core machine of the targets. PostgreSQL's own default is 128MB, which a
#: 100,000-memory user's graph (195 MB) does not fit.
SHARED_BUFFERS = "512MB"


@contextmanager
def server(shared_buffers: str) -> Iterator[EmbeddedDatabase]:
    """A throwaway embedded server with ``shared_buffers`` set (a restart applies it)."""
    root = Path(tempfile.mkdtemp(prefix="phase3-bench-"))
    db = EmbeddedDatabase(root / "pgdata")
    try:
        db.start()
        with psycopg.connect(db.url, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("alter system set shared_buffers = {}").format(
                    psycopg.sql.Literal(shared_buffers)
                )
            )
        db.stop()
        db.start()
        with psycopg.connect(db.url, autocommit=True) as conn:
            row = conn.execute("show shared_buffers").fetchone()
        print(f"server: shared_buffers {row[0] if row else '?'}", flush=True)
        yield db
    finally:
        db.stop()
        shutil.rmtree(root, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes", default="1000,5000,20000", help="memories of the measured user, comma-separated"
    )
    parser.add_argument("--data", choices=("docs", "generated"), default="docs")
    parser.add_argument("--queries", type=int, default=100, help="timed queries per method and size")
    parser.add_argument("--others", type=int, default=OTHERS, help="other users with 1,000 memories each")
    parser.add_argument(
        "--recall-queries",
        type=int,
        default=RECALL_QUERIES,
        help="held-out queries each method's recall is measured on, untimed (0: the timed ones)",
    )
    parser.add_argument(
        "--ef-search", type=int, default=None, help="what tune_search stores per user (default: calibrated)"
    )
    parser.add_argument("--skip-untuned", action="store_true", help="do not time the SDK before tune-search")
    parser.add_argument(
        "--rotate-queries",
        action="store_true",
        help="methods take turns query by query, not in blocks (the scans then evict every index)",
    )
    parser.add_argument(
        "--same-queries",
        action="store_true",
        help="every method on the same queries, not a slice of its own (the methods then share cached pages)",
    )
    parser.add_argument(
        "--shared-buffers",
        default=SHARED_BUFFERS,
        help=f"the server's shared_buffers (default {SHARED_BUFFERS}, Supabase's Small; 128MB: PostgreSQL's)",
    )
    parser.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "phase3-sdk-bench")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    t_start = time.perf_counter()
    data = Data(args.data, args.cache, sizes, args.others, args.queries, args.recall_queries)
    table: list[Row] = []
    with server(args.shared_buffers) as db:
        for size in sizes:
            print(f"size {size:,}:", flush=True)
            table.extend(run_size(db, data, size, args))

    print(
        f"\ndata: {args.data}; {args.others} other users of 1,000 memories;"
        f" {args.queries} timed queries per method"
        + ("; the same queries for every method" if args.same_queries else "")
        + (
            f"; recall on {args.recall_queries:,} held-out queries, the same for every method (over the timed"
            f" ones for a method slower than {SCAN_MS:.0f} ms)"
            if args.recall_queries
            else "; recall over the timed queries"
        )
    )
    print(
        "| memories | method | ranked by | p50 ms | p95 ms | recall@10 mean | worst query"
        " | queries below 0.9 |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for label, name, how, p50, p95, recall in table:
        print(f"| {label} | {name} | {how} | {ms(p50)} | {ms(p95)} | {recall.cells()} |")
    print(f"\n(whole run: {time.perf_counter() - t_start:.0f} s)")


def ms(value: float) -> str:
    """A time for the table: to 0.01 ms below 10 ms (at 1,000 memories the methods differ by under 0.1)."""
    return f"{value:.2f}" if value < 10 else f"{value:.1f}"


if __name__ == "__main__":
    main()

"""Per-user search cells: train them, so that semantic search stays fast for users with many memories.

``semantic_search`` ranks a user's memories by sketch distance before re-ranking the best few hundred
exactly; without cells it reads all of them, which is linear in their number (~20-30 ms at 100,000 on two
cores). :func:`tune_search` clusters each large user's embeddings (spherical k-means, about one cell per
``rows_per_cell`` memories), stores the centroids in ``memory_search_cells`` and writes each memory's nearest
cell into ``conversations.search_cell``; a query then reads only the cells nearest to it. See
``supabase/migrations/20260202001300_search_cells.sql`` for the query side and the measurements.

Run it as a privileged role (a database URL: the table owner or the service role), after bulk imports and
from time to time (nightly, say): memories written after a user was tuned are unassigned, which is always
correct (they are read by every query) but grows slower until the next run. ``phase3 db tune-search`` is
the command-line face of this module.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import numpy as np
import numpy.typing as npt
import psycopg
from psycopg.abc import Buffer
from psycopg.adapt import Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from ..embeddings import vector_text
from ..errors import ConfigurationError, InvalidInputError

__all__ = ["DEFAULT_MIN_MEMORIES", "DEFAULT_ROWS_PER_CELL", "TuneReport", "TunedUser", "tune_search"]

#: Users with fewer live, embedded memories are left alone: ranking all of them is already fast.
DEFAULT_MIN_MEMORIES = 5000
#: Memories per cell. Measured on benchmarks/search.py's data, 300 keeps recall@10 at 1.00 while a query
#: reads ~6% of a 100,000-memory user.
DEFAULT_ROWS_PER_CELL = 300
#: Embeddings the centroids are trained on, per user.
DEFAULT_SAMPLE_SIZE = 30_000
#: A centroid needs some members in the sample to be a stable mean.
_MIN_SAMPLE_PER_CELL = 16
_KMEANS_ITERATIONS = 12
_ASSIGN_BATCH = 10_000

Vectors = npt.NDArray[np.float32]


@dataclass(frozen=True)
class TunedUser:
    """One user's new cells."""

    user_id: UUID
    memories: int
    cells: int
    seconds: float


@dataclass(frozen=True)
class TuneReport:
    """What a :func:`tune_search` run did."""

    tuned: tuple[TunedUser, ...]
    #: Users who have memories but fewer than ``min_memories`` (left as they were).
    skipped: int
    seconds: float

    def summary(self) -> str:
        """One line for people."""
        memories = sum(u.memories for u in self.tuned)
        cells = sum(u.cells for u in self.tuned)
        users = len(self.tuned)
        return (
            f"tuned {users} user{'' if users == 1 else 's'} ({memories:,} memories, {cells:,} cells) "
            f"in {self.seconds:.1f} s; {self.skipped} smaller user{'' if self.skipped == 1 else 's'} left as "
            "they were"
        )


def _vector_loader(oid: int) -> type[Loader]:
    """pgvector's binary form (int16 dimensions, int16 unused, big-endian float32s) as a numpy array."""

    class VectorLoader(Loader):
        format = Format.BINARY

        def load(self, data: Buffer) -> Vectors:
            return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)

    VectorLoader.__name__ = f"VectorLoader{oid}"
    return VectorLoader


def _unit(x: Vectors) -> Vectors:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    # A zero vector has no direction; it is nobody's nearest anything, but must not become NaN.
    unit: Vectors = (x / np.where(norms == 0, 1, norms)).astype(np.float32)
    return unit


def spherical_kmeans(sample: Vectors, cells: int, *, seed: int = 0) -> Vectors:
    """``cells`` unit centroids of ``sample`` (rows are unit vectors) by cosine similarity.

    Lloyd's iterations from a random draw of the sample; a cell left empty takes the sample row that its
    current centroid fits worst, so every centroid ends up with members.
    """
    rng = np.random.default_rng(seed)
    centroids = sample[rng.choice(len(sample), size=cells, replace=False)].copy()
    for _ in range(_KMEANS_ITERATIONS):
        scores = sample @ centroids.T
        nearest = scores.argmax(axis=1)
        sums = np.zeros_like(centroids)
        np.add.at(sums, nearest, sample)
        empty = np.flatnonzero(np.bincount(nearest, minlength=cells) == 0)
        if len(empty):
            worst = np.argsort(scores[np.arange(len(sample)), nearest])[: len(empty)]
            sums[empty] = sample[worst]
        centroids = _unit(sums)
    return centroids


def _cell_count(memories: int, sample: int, rows_per_cell: int) -> int:
    return max(1, min(memories // rows_per_cell, sample // _MIN_SAMPLE_PER_CELL, 32767))


def _candidates(
    conn: psycopg.Connection[Any], min_memories: int, user_ids: Sequence[UUID] | None
) -> tuple[list[tuple[UUID, int]], int]:
    counts = conn.execute(
        # embedding_sketch is null exactly when embedding is, and this way only the search index is read.
        "select user_id, count(*) from public.conversations"
        " where embedding_sketch is not null and not is_deleted"
        " and (%(users)s::uuid[] is null or user_id = any(%(users)s::uuid[]))"
        " group by user_id order by count(*) desc",
        {"users": list(user_ids) if user_ids is not None else None},
    ).fetchall()
    big = [(uid, int(n)) for uid, n in counts if n >= min_memories]
    return big, len(counts) - len(big)


def _embeddings(
    conn: psycopg.Connection[Any], user_id: UUID, *, limit: int | None = None
) -> Iterator[tuple[list[UUID], Vectors]]:
    """The user's live embeddings in batches: a random ``limit`` of them, or all with their ids."""
    sample = limit is not None
    query = (
        "select id, embedding from public.conversations"
        " where user_id = %s and embedding is not null and not is_deleted"
        + (" order by random() limit %s" if sample else "")
    )
    # A named (server-side) cursor streams the rows instead of holding 3 KB per memory in memory at once.
    with conn.cursor(name="phase3_tune", binary=True) as cur:
        cur.execute(query, (user_id, limit) if sample else (user_id,))
        while rows := cur.fetchmany(_ASSIGN_BATCH):
            yield [r[0] for r in rows], np.stack([r[1] for r in rows])


def _tune_user(
    conn: psycopg.Connection[Any],
    user_id: UUID,
    memories: int,
    rows_per_cell: int,
    sample_size: int,
    seed: int,
) -> TunedUser:
    started = time.perf_counter()
    with conn.transaction():
        # Two tuners of the same user would interleave their writes; the second waits for the first.
        conn.execute(
            "select pg_advisory_xact_lock(hashtext('phase3_tune_search'), hashtext(%s::text))", (user_id,)
        )
        sample = _unit(np.concatenate([v for _, v in _embeddings(conn, user_id, limit=sample_size)]))
        count = _cell_count(memories, len(sample), rows_per_cell)
        centroids = spherical_kmeans(sample, count, seed=seed)

        members = np.zeros(count, dtype=np.int64)
        assigned: list[tuple[list[UUID], list[int]]] = []
        for ids, vectors in _embeddings(conn, user_id):
            nearest = (_unit(vectors) @ centroids.T).argmax(axis=1)
            members += np.bincount(nearest, minlength=count)
            assigned.append((ids, nearest.tolist()))

        conn.execute("delete from public.memory_search_cells where user_id = %s", (user_id,))
        with conn.cursor() as cur:
            cur.executemany(
                "insert into public.memory_search_cells (user_id, cell, centroid, members)"
                " values (%s, %s, %s::extensions.vector, %s)",
                [(user_id, i, vector_text(c), int(members[i])) for i, c in enumerate(centroids)],
            )
        # Index upkeep, not an edit: conversations' trigger leaves updated_at alone (see the migration).
        conn.execute("set local phase3.search_upkeep = 'on'")
        # Every live memory read above gets its cell (a row is rewritten only if its cell changes). Deleted
        # ones go to -1, which only include_deleted searches read, and read whole.
        for ids, cells in assigned:
            conn.execute(
                "update public.conversations c set search_cell = a.cell"
                " from unnest(%s::uuid[], %s::smallint[]) as a(id, cell)"
                " where c.id = a.id and c.user_id = %s and not c.is_deleted and c.search_cell <> a.cell",
                (ids, cells, user_id),
            )
        conn.execute(
            "update public.conversations set search_cell = -1"
            " where user_id = %s and is_deleted and search_cell <> -1",
            (user_id,),
        )
    return TunedUser(user_id, memories, count, time.perf_counter() - started)


def tune_search(
    url: str,
    *,
    min_memories: int = DEFAULT_MIN_MEMORIES,
    rows_per_cell: int = DEFAULT_ROWS_PER_CELL,
    sample_size: int = DEFAULT_SAMPLE_SIZE,
    user_ids: Sequence[UUID] | None = None,
    seed: int = 0,
    on_progress: Callable[[int, int, TunedUser], None] | None = None,
) -> TuneReport:
    """(Re)train the search cells of every user with at least ``min_memories`` live, embedded memories.

    ``url`` is a database URL of a role that bypasses RLS (the table owner, as migrations run, or the
    service role). ``user_ids`` limits the run to those users. Each user is one transaction: searches
    running meanwhile see the old cells or the new ones, never a mix, and memories written meanwhile stay
    unassigned (still found). ``on_progress(done, total, user)`` is called after each user.
    """
    for name, value, low in (
        ("min_memories", min_memories, 1),
        ("rows_per_cell", rows_per_cell, 1),
        ("sample_size", sample_size, _MIN_SAMPLE_PER_CELL),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise InvalidInputError(f"{name} must be an integer >= {low}, got {value!r}", field=name)
    started = time.perf_counter()
    tuned: list[TunedUser] = []
    with psycopg.connect(url, autocommit=True) as conn:
        info = TypeInfo.fetch(conn, "extensions.vector")
        if info is None:
            raise ConfigurationError(
                "extensions.vector does not exist: this database is not migrated",
                hint="run `phase3 db migrate` first",
            )
        conn.adapters.register_loader(info.oid, _vector_loader(info.oid))
        users, skipped = _candidates(conn, min_memories, user_ids)
        for done, (user_id, memories) in enumerate(users, start=1):
            result = _tune_user(conn, user_id, memories, rows_per_cell, sample_size, seed)
            tuned.append(result)
            if on_progress is not None:
                on_progress(done, len(users), result)
        conn.execute("analyze public.memory_search_cells")
    return TuneReport(tuple(tuned), skipped, time.perf_counter() - started)

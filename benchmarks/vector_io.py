"""Vector I/O: the SDK's own binary vector dumper and loader vs pgvector.psycopg's, side by side.

    .venv/bin/python benchmarks/vector_io.py                  # 10,000 memories, 768 dimensions, 5 runs
    .venv/bin/python benchmarks/vector_io.py --rows 2000 --runs 3

Runs on a throwaway embedded PostgreSQL, migrated, as a user (RLS on), rows from
``testing.seed.generate_history`` (768-dimension float32 embeddings, two messages each). Each row of the
table is the median of ``--runs`` runs, the two implementations alternating run by run:

- ``bulk_create``: ``conversations.bulk_create`` end to end (validation, binary COPY into the stage table,
  INSERT ... SELECT), from an empty table. "ours" is ``backends.sql.dumpers`` (``encode_vectors`` turns the
  column into pgvector's binary form in one numpy pass, the dumper passes the bytes on); "pgvector" swaps in
  ``pgvector.psycopg.VectorBinaryDumper`` for that one column type (``Vector(ndarray).to_binary()`` per row).
- ``dump the column``: only the vector column's binary encoding, without the database.
- ``read back``: every stored embedding selected in binary and made a float32 numpy array (what
  ``db/tune.py`` does to calibrate a user's index): ``tune._VectorLoader`` vs pgvector's
  ``VectorBinaryLoader`` and ``Vector.to_numpy()``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg.vector import VectorBinaryDumper, VectorBinaryLoader
from psycopg.adapt import Dumper, Loader
from psycopg.types import TypeInfo

from phase3_sdk import Phase3Client
from phase3_sdk.backends import sql as q
from phase3_sdk.db import migrator, tune
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.testing.seed import generate_history

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"


def pgvector_dumper(oid: int) -> type[Dumper]:
    """pgvector.psycopg's binary dumper with the database's vector oid (as ``register_vector_info`` makes)."""
    return type("PgvectorBinaryDumper", (VectorBinaryDumper,), {"oid": oid})


class PgvectorNumpyLoader(Loader):
    """pgvector.psycopg's binary loader, then the numpy array the SDK's caller needs."""

    format = VectorBinaryLoader.format

    def load(self, data: Any) -> Any:
        return VectorBinaryLoader.load(self, data).to_numpy()  # type: ignore[arg-type, union-attr]


#: What "pgvector" replaces in the SDK for a run: the dumper factory and the column pre-encoding.
OURS = (q.BULK_DUMPERS["vector"], q.encode_vectors)
PGVECTOR = (pgvector_dumper, list)


def use(dumpers: tuple[Callable[..., Any], Callable[..., Any]]) -> None:
    # The Postgres backend reads both through the package at call time (q.BULK_DUMPERS, q.encode_vectors).
    q.BULK_DUMPERS["vector"] = dumpers[0]
    q.encode_vectors = dumpers[1]  # type: ignore[assignment]


def dump_column(dumper: type[Dumper], encode: Callable[[list[Any]], list[Any]], column: list[Any]) -> float:
    t = time.perf_counter()
    d = dumper(object)
    for value in encode(column):
        d.dump(value)
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    rows = generate_history(n=args.rows, seed=1, start=datetime(2024, 1, 1, tzinfo=UTC))
    column = [r["embedding"] for r in rows]
    print(f"{len(rows):,} rows, {column[0].shape[0]} dimensions, {args.runs} runs each", flush=True)

    times: dict[tuple[str, str], list[float]] = {}
    with EmbeddedDatabase() as db:
        url = db.create_database("vector_io")
        apply_shim(url)
        migrator.migrate(url, MIGRATIONS)
        user = db.create_user("vectors@example.test", database="vector_io")
        with Phase3Client.connect(url) as root, psycopg.connect(url, autocommit=True) as admin:
            me = root.as_user(user_id=user)
            info = TypeInfo.fetch(admin, "extensions.vector")
            assert info is not None
            for run in range(args.runs):
                # Alternate which goes first, so neither always meets a warmer cache.
                order = [("ours", OURS), ("pgvector", PGVECTOR)]
                for name, dumpers in order if run % 2 == 0 else order[::-1]:
                    admin.execute("truncate public.conversations")
                    admin.execute("checkpoint")
                    use(dumpers)
                    try:
                        t = time.perf_counter()
                        stored = me.conversations.bulk_create(rows, batch_size=1000)
                        times.setdefault(("bulk_create", name), []).append(time.perf_counter() - t)
                    finally:
                        use(OURS)
                    assert stored == len(rows), stored
                    dumper = dumpers[0](info.oid)
                    times.setdefault(("dump the column", name), []).append(
                        dump_column(dumper, dumpers[1], column)
                    )
                for name, loader in (
                    [("ours", tune._VectorLoader), ("pgvector", PgvectorNumpyLoader)]
                    if run % 2 == 0
                    else [("pgvector", PgvectorNumpyLoader), ("ours", tune._VectorLoader)]
                ):
                    with psycopg.connect(url, autocommit=True) as conn:
                        conn.adapters.register_loader(info.oid, loader)
                        t = time.perf_counter()
                        got = conn.execute(
                            "select embedding from public.conversations where user_id = %s",
                            (user,),
                            binary=True,
                        ).fetchall()
                        matrix = np.stack([r[0] for r in got])
                        times.setdefault(("read back", name), []).append(time.perf_counter() - t)
                    assert matrix.shape == (len(rows), column[0].shape[0])
                    assert matrix.dtype == np.float32
                print(f"  run {run + 1} done", flush=True)

    print(
        f"\n{'what':18s} {'ours (s)':>9s} {'pgvector (s)':>13s} {'pgvector/ours':>14s} {'rows/s ours':>12s}"
    )
    for what in ("bulk_create", "dump the column", "read back"):
        ours = statistics.median(times[(what, "ours")])
        theirs = statistics.median(times[(what, "pgvector")])
        print(f"{what:18s} {ours:>9.3f} {theirs:>13.3f} {theirs / ours:>13.2f}x {len(rows) / ours:>12,.0f}")


if __name__ == "__main__":
    main()

"""Vector I/O: pgvector.psycopg's binary vector dumper and loader (what the SDK uses) vs the hand-written
ones the SDK had until they were measured here, side by side.

    .venv/bin/python benchmarks/vector_io.py                  # 10,000 memories, 768 dimensions, 5 runs
    .venv/bin/python benchmarks/vector_io.py --rows 2000 --runs 3

Runs on a throwaway embedded PostgreSQL, migrated, as a user (RLS on), rows from
``testing.seed.generate_history`` (768-dimension float32 embeddings, two messages each). Each row of the
table is the median of ``--runs`` runs, the two implementations alternating run by run:

- ``bulk_create``: ``conversations.bulk_create`` end to end (validation, binary COPY into the stage table,
  INSERT ... SELECT), from an empty table. "pgvector" is the SDK as it is (``backends.sql.dumpers``);
  "hand-written" swaps in the removed dumper for that one column type (numpy writes each row's binary form).
- ``dump the column``: only the vector column's binary encoding, without the database; "hand-written"
  includes ``encode_vectors``, the one-numpy-pass pre-encoding the removed dumper was fed.
- ``read back``: every stored embedding selected in binary and made a float32 numpy array (what
  ``db/tune.py`` does to calibrate a user's index): pgvector's ``VectorBinaryLoader`` and
  ``Vector.to_numpy()`` vs the removed loader (``np.frombuffer``).
- ``load the column``: only the decoding of those binary values into one numpy matrix, without the database.

Measured on a shared 2-core machine (``--runs 9``, medians), hand-written vs pgvector: bulk_create 5.70 s
vs 5.50 s, dumping the column 0.244 s vs 0.103 s, read back 0.400 s vs 0.401 s, decoding alone 0.104 s vs
0.171 s (pgvector builds an ``array`` and byteswaps it; the query's wire time hides the difference). On the
real work, inserting and reading back, pgvector's are as fast, so the SDK uses them.
"""

from __future__ import annotations

import argparse
import statistics
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from pgvector.psycopg.vector import VectorBinaryLoader
from psycopg.abc import Buffer
from psycopg.adapt import Dumper, Loader
from psycopg.pq import Format
from psycopg.types import TypeInfo

from phase3_sdk import Phase3Client
from phase3_sdk.backends import sql as q
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.testing.seed import generate_history

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"


_VECTOR_HEADER = struct.Struct(">HH")


def encode_vectors(values: list[Any]) -> list[Any]:
    """The removed pre-encoding: the whole column as one buffer of pgvector binary rows, a slice each."""
    arrays = [v for v in values if v is not None]
    width = arrays[0].shape[0]
    encoded = np.empty((len(arrays), 4 + 4 * width), dtype=np.uint8)
    encoded[:, :4] = np.frombuffer(_VECTOR_HEADER.pack(width, 0), dtype=np.uint8)
    encoded[:, 4:] = np.stack(arrays).astype(">f4").view(np.uint8)
    rows = iter(encoded)
    return [None if v is None else next(rows).tobytes() for v in values]


def hand_written_dumper(oid: int) -> type[Dumper]:
    """The removed binary COPY dumper: bytes as they are, else numpy writes the binary form."""

    class HandWrittenVectorDumper(Dumper):
        format = Format.BINARY

        def dump(self, obj: Any) -> Buffer:
            if isinstance(obj, bytes):
                return obj
            values = np.asarray(obj, dtype=">f4")
            return _VECTOR_HEADER.pack(values.shape[0], 0) + values.tobytes()

    HandWrittenVectorDumper.oid = oid
    return HandWrittenVectorDumper


class HandWrittenVectorLoader(Loader):
    """The removed binary loader (int16 dimensions, int16 unused, big-endian float32s) as a numpy array."""

    format = Format.BINARY

    def load(self, data: Buffer) -> Any:
        return np.frombuffer(data, dtype=">f4", offset=4).astype(np.float32)


class PgvectorNumpyLoader(Loader):
    """pgvector.psycopg's binary loader, then the numpy array the caller needs (as db/tune.py does)."""

    format = VectorBinaryLoader.format

    def load(self, data: Buffer) -> Any:
        return VectorBinaryLoader.load(self, data).to_numpy()  # type: ignore[arg-type, union-attr]


PGVECTOR = q.BULK_DUMPERS["vector"]


def use(dumper: Callable[[int], type[Dumper]]) -> None:
    # The Postgres backend looks the factory up by type name at every bulk insert.
    q.BULK_DUMPERS["vector"] = dumper


def dump_column(dumper: type[Dumper], encode: Callable[[list[Any]], list[Any]], column: list[Any]) -> float:
    t = time.perf_counter()
    d = dumper(object)
    for value in encode(column):
        d.dump(value)
    return time.perf_counter() - t


def load_column(loader: type[Loader], wire: list[bytes]) -> float:
    t = time.perf_counter()
    ld = loader(0)
    np.stack([ld.load(data) for data in wire])
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
    wire = encode_vectors(column)  # the column in pgvector's binary form, as the server sends it
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
                sides: list[tuple[str, Callable[[int], type[Dumper]], Callable[..., Any], type[Loader]]] = [
                    ("hand-written", hand_written_dumper, encode_vectors, HandWrittenVectorLoader),
                    ("pgvector", PGVECTOR, list, PgvectorNumpyLoader),
                ]
                for name, dumper, encode, _ in sides if run % 2 == 0 else sides[::-1]:
                    admin.execute("truncate public.conversations")
                    admin.execute("checkpoint")
                    use(dumper)
                    try:
                        t = time.perf_counter()
                        stored = me.conversations.bulk_create(rows, batch_size=1000)
                        times.setdefault(("bulk_create", name), []).append(time.perf_counter() - t)
                    finally:
                        use(PGVECTOR)
                    assert stored == len(rows), stored
                    times.setdefault(("dump the column", name), []).append(
                        dump_column(dumper(info.oid), encode, column)
                    )
                for name, _, _, loader in sides if run % 2 == 0 else sides[::-1]:
                    times.setdefault(("load the column", name), []).append(load_column(loader, wire))
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

    header = (
        f"{'hand-written (s)':>17s} {'pgvector (s)':>13s} {'pgvector/hand':>14s} {'rows/s pgvector':>16s}"
    )
    print(f"\n{'what':18s} {header}")
    for what in ("bulk_create", "dump the column", "read back", "load the column"):
        ours = statistics.median(times[(what, "hand-written")])
        theirs = statistics.median(times[(what, "pgvector")])
        print(
            f"{what:18s} {ours:>17.3f} {theirs:>13.3f} {theirs / ours:>13.2f}x {len(rows) / theirs:>16,.0f}"
        )


if __name__ == "__main__":
    main()

"""Bulk ingest speed: ``conversations.bulk_create`` (binary COPY) at several batch sizes vs ``create_many``.

    .venv/bin/python benchmarks/ingest.py                     # 100,000 memories with embeddings
    .venv/bin/python benchmarks/ingest.py --rows 20000 --batch-sizes 1000 --progress

Runs on a throwaway embedded PostgreSQL, migrated, as a user (RLS on), rows from
``testing.seed.generate_history`` (768-dimension float32 embeddings, two messages each). Each batch size
starts from an empty table. Prints rows/s for each run, next to the numbers measured before this version
of ``bulk_create`` (per-row pydantic validation, a temp table per batch, default batch 500), and checks
that running the same import again stores nothing twice.
"""

from __future__ import annotations

import argparse
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import psycopg

from phase3_sdk import Phase3Client
from phase3_sdk._sync.resources.conversations import DEFAULT_BULK_BATCH
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.testing.seed import generate_history

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"

#: rows/s of the previous bulk_create on this machine, 100,000 rows (issue 5 report; re-measured here).
BEFORE = {500: "3,674 / 5,049", 2_000: "5,000"}  # 500 was, and is, the default


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--batch-sizes",
        type=int,
        nargs="+",
        default=[DEFAULT_BULK_BATCH, 500, 5_000],
        help="first is timed again",
    )
    parser.add_argument("--insert-rows", type=int, default=2_000, help="rows for the create_many baseline")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    t = time.perf_counter()
    rows = generate_history(n=args.rows, seed=1, start=datetime(2024, 1, 1, tzinfo=UTC))
    print(f"generated {len(rows):,} rows with embeddings in {time.perf_counter() - t:.1f} s", flush=True)

    with EmbeddedDatabase() as db:
        url = db.create_database("ingest")
        apply_shim(url)
        migrator.migrate(url, MIGRATIONS)
        results: list[tuple[str, int, float, int]] = []  # name, rows, seconds, batch size
        with Phase3Client.connect(url) as root, psycopg.connect(url, autocommit=True) as admin:
            me = root.as_user(user_id=db.create_user("bulk@example.test", database="ingest"))
            for size in args.batch_sizes:
                admin.execute("truncate public.conversations")
                admin.execute("checkpoint")  # each run starts from the same state
                default = " (default)" if size == DEFAULT_BULK_BATCH else ""
                t = time.perf_counter()
                stored = me.conversations.bulk_create(rows, batch_size=size, progress=args.progress)
                results.append(
                    (f"bulk_create, batch {size:,}{default}", stored, time.perf_counter() - t, size)
                )
                print(f"  batch {size:,}: {stored / (time.perf_counter() - t):,.0f} rows/s", flush=True)

            size = args.batch_sizes[-1]
            t = time.perf_counter()
            again = me.conversations.bulk_create(rows, batch_size=size)
            results.append(("bulk_create again, all present", again, time.perf_counter() - t, size))
            total = me.conversations.count()

            other = root.as_user(user_id=db.create_user("insert@example.test", database="ingest"))
            base = [{k: v for k, v in r.items() if k not in ("id", "is_deleted", "updated_at")} for r in rows]
            base = base[: args.insert_rows]
            for r in base:
                r["embedding"] = r["embedding"].tolist()
                # create_many cannot send message timestamps yet (model_dump leaves datetimes in the JSON).
                r["messages"] = [{k: v for k, v in m.items() if k != "timestamp"} for m in r["messages"]]
            t = time.perf_counter()
            n = 0
            # The deprecated create_many is the baseline measured here: its warning is expected.
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                for start in range(0, len(base), 500):
                    n += len(other.conversations.create_many(base[start : start + 500]))
            results.append(("create_many (INSERT ... VALUES), 500", n, time.perf_counter() - t, 0))

    print(f"\n{'path':40s} {'rows':>9s} {'seconds':>8s} {'rows/s':>9s} {'before':>15s}")
    for name, count, seconds, size in results:
        before = BEFORE.get(size, "") if name.startswith("bulk_create, ") else ""
        print(f"{name:40s} {count:>9,d} {seconds:>8.2f} {count / seconds:>9,.0f} {before:>15s}")
    print(
        f"\nstored after the last two bulk runs: {total:,} of {len(rows):,} (a re-run stores nothing twice)"
    )


if __name__ == "__main__":
    main()

"""Bulk ingest speed: ``conversations.bulk_create`` (binary COPY) vs ``create_many`` (INSERT), same rows.

    .venv/bin/python benchmarks/ingest.py                     # 100,000 memories with embeddings
    .venv/bin/python benchmarks/ingest.py --rows 20000 --batch-size 1000 --progress

Runs on a throwaway embedded PostgreSQL, migrated, as a user (RLS on), rows from
``synthesis.seed.generate_history`` (768-dimension embeddings). Prints rows/s for each path, and checks
that running the same import again stores nothing twice.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime
from pathlib import Path

from phase3_sdk import Phase3Client
from phase3_sdk.db import migrator
from phase3_sdk.db.embedded import EmbeddedDatabase, apply_shim
from phase3_sdk.synthesis.seed import generate_history

MIGRATIONS = Path(__file__).resolve().parent.parent / "supabase" / "migrations"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--insert-rows", type=int, default=5_000, help="rows for the create_many baseline")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()

    t = time.perf_counter()
    rows = generate_history(n=args.rows, seed=1, start=datetime(2024, 1, 1, tzinfo=UTC))
    print(f"generated {len(rows):,} rows with embeddings in {time.perf_counter() - t:.1f} s", flush=True)

    with EmbeddedDatabase() as db:
        url = db.create_database("ingest")
        apply_shim(url)
        migrator.migrate(url, MIGRATIONS)
        results: list[tuple[str, int, float]] = []
        with Phase3Client.connect(url) as root:
            me = root.as_user(user_id=db.create_user("bulk@example.test", database="ingest"))
            t = time.perf_counter()
            stored = me.conversations.bulk_create(rows, batch_size=args.batch_size, progress=args.progress)
            results.append(("bulk_create (binary COPY)", stored, time.perf_counter() - t))

            t = time.perf_counter()
            again = me.conversations.bulk_create(rows, batch_size=args.batch_size)
            results.append(("bulk_create again (all present)", again, time.perf_counter() - t))
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
            for start in range(0, len(base), args.batch_size):
                n += len(other.conversations.create_many(base[start : start + args.batch_size]))
            results.append(("create_many (INSERT ... VALUES)", n, time.perf_counter() - t))

    print(f"\n{'path':34s} {'rows':>9s} {'seconds':>8s} {'rows/s':>9s}")
    for name, count, seconds in results:
        print(f"{name:34s} {count:>9,d} {seconds:>8.2f} {count / seconds:>9,.0f}")
    print(f"\nrows stored after both bulk runs: {total:,} (of {len(rows):,}: a re-run duplicates nothing)")


if __name__ == "__main__":
    main()

"""Seeding memory histories and starting worker processes for the synthesis worker tests."""

from __future__ import annotations

import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from phase3_sdk._async.client import AsyncPhase3Client
from phase3_sdk.testing.seed import generate_history_with_truth

START = datetime(2024, 1, 1, 8, 0, tzinfo=UTC)
WORKER_SCRIPT = Path(__file__).with_name("worker_proc.py")

# Pattern types that would report a planted pattern; none may appear for a user without planted patterns.
PLANTED_TYPES = {
    "weekly_emotion_rhythm",
    "daily_emotion_rhythm",
    "periodic_topic",
    "relationship_warmth",
    "recurring_goal",
    "emotion_link",
    "narrative_shift",
    "affect_trend",
}

_DROP = {"id", "updated_at", "is_deleted"}


def _payload(row: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in row.items() if k not in _DROP}
    # Only role and content: the seeded messages' datetime timestamps do not survive the insert's JSON dump.
    out["messages"] = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
    return out


async def seed(
    admin: AsyncPhase3Client, user_id: uuid.UUID, *, n: int, seed: int, planted: bool = True
) -> tuple[list[dict[str, Any]], dict[str, set[str]]]:
    """Store a generated history for ``user_id``; return the stored rows (with ids) and the planted ids."""
    rows, truth = generate_history_with_truth(n=n, seed=seed, start=START, planted=planted)
    stored: list[dict[str, Any]] = []
    for i in range(0, len(rows), 500):
        chunk = rows[i : i + 500]
        # Fresh ids (the generator's repeat across users); map them to the stored ones by position.
        ids = [uuid.uuid4() for _ in chunk]
        await admin.conversations.bulk_create(
            [{**_payload(r), "id": i} for r, i in zip(chunk, ids, strict=True)], user_id=user_id
        )
        stored.extend({**r, "id": str(i)} for r, i in zip(chunk, ids, strict=True))
    new_id = {r["id"]: s["id"] for r, s in zip(rows, stored, strict=True)}
    return stored, {kind: {new_id[i] for i in ids} for kind, ids in truth.items()}


def start_worker(db_url: str, report: Path, *args: str) -> subprocess.Popen[bytes]:
    """A real worker process (``worker_proc.py``) writing its report to ``report`` when it ends."""
    return subprocess.Popen(
        [sys.executable, str(WORKER_SCRIPT), "--db-url", db_url, "--report", str(report), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )

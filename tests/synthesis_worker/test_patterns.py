"""The worker finds the planted patterns, merges re-runs, and reads only the job owner's memories."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest

from phase3_sdk._async.client import AsyncPhase3Client
from phase3_sdk.models import Pattern

from .helpers import PLANTED_TYPES, START, seed


@dataclass
class Seeded:
    admin: AsyncPhase3Client
    alice: AsyncPhase3Client  # planted patterns
    bob: AsyncPhase3Client  # the same kind of history, nothing planted
    alice_rows: list[dict[str, Any]]
    bob_rows: list[dict[str, Any]]
    truth: dict[str, set[str]]


@pytest.fixture(scope="module")
async def seeded(db_url: str) -> AsyncIterator[Seeded]:
    from phase3_sdk.db.embedded import create_auth_user

    async with AsyncPhase3Client.connect(db_url) as admin:
        alice_id = create_auth_user(db_url, "alice@example.test", None)
        bob_id = create_auth_user(db_url, "bob@example.test", None)
        alice_rows, truth = await seed(admin, alice_id, n=1000, seed=3)
        bob_rows, _ = await seed(admin, bob_id, n=600, seed=4, planted=False)
        alice, bob = admin.as_user(user_id=alice_id), admin.as_user(user_id=bob_id)
        jobs = [
            await alice.synthesis_jobs.submit("full_synthesis"),
            await bob.synthesis_jobs.submit("full_synthesis"),
        ]
        report = await admin.synthesis_jobs.run_worker(concurrency=2, once=True)
        assert sorted(report.completed) == sorted(j.id for j in jobs)
        yield Seeded(admin, alice, bob, alice_rows, bob_rows, truth)


async def patterns_of(client: AsyncPhase3Client) -> dict[str, Pattern]:
    found = [p async for p in client.patterns.list()]
    by_key = {p.pattern_key: p for p in found if p.pattern_key}
    assert len(by_key) == len(found), "a pattern key is stored twice"
    return by_key


def precision_recall(pattern: Pattern, planted: set[str]) -> tuple[float, float]:
    cited = set(pattern.evidence["memory_ids"])
    return len(cited & planted) / len(cited), len(cited & planted) / len(planted)


async def test_planted_patterns_are_found_with_evidence_pointing_at_planted_memories(seeded: Seeded) -> None:
    patterns = await patterns_of(seeded.alice)

    anxiety = patterns["weekly_emotion_rhythm:anxious:meeting"]
    assert anxiety.layer == 2
    assert precision_recall(anxiety, seeded.truth["monday_anxiety"]) >= (0.9, 0.9)
    assert anxiety.confidence >= 0.5

    climbing = patterns["periodic_topic:climbing"]
    assert climbing.evidence["weekday"] == "thursday"
    precision, recall = precision_recall(climbing, seeded.truth["weekly_topic"])
    assert precision >= 0.95
    assert recall >= 0.95

    maya = patterns["relationship_warmth:maya:rising"]
    assert maya.layer == 3
    assert precision_recall(maya, seeded.truth["rising_warmth"]) == (1.0, 1.0)

    for p in patterns.values():
        assert p.observation_count == 1
        assert p.source_job_id is not None
    # The anxiety pattern is negative, so it got a (high-priority wellbeing) recommendation.
    recs = [r async for r in seeded.alice.recommendations.list(pattern_id=anxiety.id)]
    assert len(recs) == 1
    assert recs[0].category == "wellbeing"


async def test_nothing_planted_is_found_for_a_user_without_planted_patterns(seeded: Seeded) -> None:
    patterns = await patterns_of(seeded.bob)
    assert patterns, "the background history still has descriptive patterns"
    assert [k for k, p in patterns.items() if p.pattern_type in PLANTED_TYPES] == []


async def test_a_job_reads_only_its_owners_non_deleted_memories(seeded: Seeded) -> None:
    alice_ids = {r["id"] for r in seeded.alice_rows}
    bob_ids = {r["id"] for r in seeded.bob_rows}
    for client, own, other in ((seeded.alice, alice_ids, bob_ids), (seeded.bob, bob_ids, alice_ids)):
        for p in (await patterns_of(client)).values():
            cited = set(p.evidence["memory_ids"])
            assert cited <= own
            assert not cited & other
        jobs = [j async for j in client.synthesis_jobs.list()]
        assert [j.memories_analyzed for j in jobs] == [len(own)]

    # A time range and soft deletes narrow what is read: [since, until), deleted rows skipped.
    since, until = START + timedelta(days=30), START + timedelta(days=60)
    in_range = [r for r in seeded.bob_rows if since <= r["created_at"] < until]
    deleted = in_range[:5]
    for row in deleted:
        await seeded.bob.conversations.soft_delete(row["id"])
    try:
        job = await seeded.bob.synthesis_jobs.submit("emotional_patterns", since=since, until=until)
        await seeded.admin.synthesis_jobs.run_worker(once=True)
        job = await seeded.bob.synthesis_jobs.get(job.id)
        assert job.status == "completed"
        assert job.memories_analyzed == len(in_range) - len(deleted)
        assert job.insights is not None
        assert job.insights["memories_analyzed"] == job.memories_analyzed
        assert since.isoformat() <= job.insights["memory_range"]["first"]
        assert job.insights["memory_range"]["last"] < until.isoformat()
    finally:
        for row in deleted:
            await seeded.bob.conversations.update(row["id"], is_deleted=False)


async def test_rerun_merges_and_keeps_what_the_user_set(seeded: Seeded) -> None:
    alice = seeded.alice
    before = await patterns_of(alice)
    counts = {k: p.observation_count for k, p in before.items()}

    # The user confirms one pattern and rewrites it; acts on the recommendation of another.
    anxiety = before["weekly_emotion_rhythm:anxious:meeting"]
    await alice.patterns.confirm(anxiety.id, notes="yes, that's me")
    await alice.patterns.update(anxiety.id, description="Mondays scare me", confidence=0.11)
    maya = before["relationship_warmth:maya:rising"]
    await alice.patterns.update(maya.id, confidence=0.01)  # unconfirmed: the next run may refresh it
    [rec] = [r async for r in alice.recommendations.list(pattern_id=anxiety.id)]
    await alice.recommendations.update_status(rec.id, "working_on")
    rec_count = await alice.recommendations.count()

    job = await alice.synthesis_jobs.submit("full_synthesis")
    await seeded.admin.synthesis_jobs.run_worker(once=True)
    job = await alice.synthesis_jobs.get(job.id)
    assert job.status == "completed"
    assert job.insights is not None
    assert job.insights["patterns_new"] == 0
    assert job.insights["patterns_merged"] == len(before)

    after = await patterns_of(alice)
    assert after.keys() == before.keys()
    assert {k: p.observation_count for k, p in after.items()} == {k: n + 1 for k, n in counts.items()}
    assert all(after[k].last_observed > before[k].last_observed for k in before)

    confirmed = after[anxiety.pattern_key or ""]
    assert confirmed.id == anxiety.id
    assert (confirmed.user_confirmed, confirmed.user_notes) == (True, "yes, that's me")
    assert (confirmed.description, confirmed.confidence) == ("Mondays scare me", 0.11)
    assert confirmed.evidence == anxiety.evidence

    assert after[maya.pattern_key or ""].confidence == maya.confidence  # refreshed from the new run

    recs = [r async for r in alice.recommendations.list(pattern_id=anxiety.id)]
    assert [(r.id, r.status) for r in recs] == [(rec.id, "working_on")]
    assert await alice.recommendations.count() == rec_count

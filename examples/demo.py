"""The whole SDK on an embedded PostgreSQL: no Supabase project, no Docker.

    python examples/demo.py            # a temporary database, deleted at the end
    python examples/demo.py --keep     # leave it running under .phase3/demo, to poke at with psql
                                       # (stop it with: phase3 dev down --path .phase3/demo)

It starts PostgreSQL 18 with pgvector (installed by pip), lays it out like Supabase, applies
supabase/migrations, then walks through what an app does: tools, a composite skill, memories, search,
synthesis, and what one user can never see of another's.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
from rich.console import Console
from rich.table import Table

from phase3_sdk import NotFoundError, Phase3Client
from phase3_sdk.db import EmbeddedDatabase
from phase3_sdk.embeddings import Embedder, HashingEmbedder
from phase3_sdk.testing.seed import generate_history

console = Console()


def section(title: str) -> None:
    console.rule(f"[bold cyan]{title}")


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keep", action="store_true", help="leave the database running under --path")
    parser.add_argument("--path", type=Path, default=Path(".phase3/demo"), help="data folder for --keep")
    parser.add_argument("--memories", type=int, default=2000, help="how many memories to seed for the user")
    args = parser.parse_args(argv)

    section("1. An embedded PostgreSQL laid out like Supabase")
    started = time.perf_counter()
    # --keep: a persistent server that outlives this process (like `phase3 dev up`), so the URL printed at
    # the end still works; without it, a temporary server deleted when the block ends.
    db = EmbeddedDatabase(args.path, persistent=True) if args.keep else EmbeddedDatabase()
    with contextlib.ExitStack() as stack:
        db.start()
        if not args.keep:
            stack.callback(db.stop)
        db.setup()
        ready = time.perf_counter() - started
        console.print(f"PostgreSQL 18 + pgvector, Supabase shim and migrations ready in {ready:.1f} s")
        alice_id = fresh_user(db, "alice@example.com")
        bob_id = fresh_user(db, "bob@example.com")

        embedder = demo_embedder()
        with Phase3Client.connect(db.url, embedder=embedder) as client:
            alice = client.as_user(user_id=alice_id)
            bob = client.as_user(user_id=bob_id)
            run_tools_and_skills(alice)
            run_memories_and_search(alice, args.memories, embedder)
            run_synthesis(client, alice)
            show_isolation(alice, bob)
    if args.keep:
        console.print(f"\nThe database is still running: [bold]{db.url}[/bold]", soft_wrap=True)
        console.print(f"stop it with: phase3 dev down --path {args.path}", markup=False, soft_wrap=True)


def demo_embedder() -> Embedder:
    """WordLlama, a real sentence model that ships inside its wheel (the dev install has it); else the
    keyword-hashing embedder, whose "semantic" hits are word matches, said so on screen."""
    try:
        from phase3_sdk.embeddings import WordLlamaEmbedder

        embedder: Embedder = WordLlamaEmbedder()
        console.print("embeddings: WordLlama (a real sentence model, offline)")
    except Exception as exc:  # the extra is not installed: say so and carry on
        embedder = HashingEmbedder()
        console.print(f"embeddings: keyword hashing, not semantic ({exc})")
        console.print("for a real model offline: pip install 'phase3-sdk[wordllama]'", markup=False)
    return embedder


def fresh_user(db: EmbeddedDatabase, email: str) -> UUID:
    """A new demo user; a kept database's user of the same email (a previous run's) is removed first.

    Deleting the user deletes everything of theirs (every table's user_id cascades), so a second --keep
    run starts from the same state as the first instead of failing on the unique email.
    """
    with psycopg.connect(db.url, autocommit=True) as conn:
        if conn.execute("delete from auth.users where email = %s", (email,)).rowcount:
            console.print(f"removed {email} and their rows from the previous run")
    return db.create_user(email)


def run_tools_and_skills(alice: Phase3Client) -> None:
    section("2. Tools: a sandboxed JavaScript tool and a Python handler")
    alice.tools.create(
        name="double",
        description="Doubles x",
        parameters={"x": {"type": "number"}},
        code="return { result: params.x * 2 };",
    )

    @alice.tools.handler("add_ten")
    def add_ten(params: dict[str, Any]) -> dict[str, Any]:
        return {"result": params["value"] + 10}

    run = alice.tools.execute("double", {"x": 21})
    console.print(f"double(21) -> {run.output}  ({run.status}, {run.execution_time_ms:.2f} ms)", markup=False)
    loop = alice.tools.create(name="spin", code="while (true) {}", sandbox_profile="strict")
    spun = alice.tools.execute(loop.name, {})
    console.print(f"an infinite loop in a tool ends as [bold]{spun.status}[/bold]: {spun.error}")

    section("3. A composite skill, executed and persisted step by step")
    steps = [
        {"stepId": "step1", "toolName": "double", "inputMapping": {"x": "$.input.x"}},
        {
            "stepId": "step2",
            "toolName": "add_ten",
            "inputMapping": {"value": "$.step1.result"},
            "condition": "step1.result > 5",
        },
    ]
    problems = alice.skills.validate(steps)
    console.print(f"validate: {len(problems)} problems")
    skill = alice.skills.create(name="double-then-add", description="x*2+10", steps=steps)
    execution = alice.skills.execute(skill.name, {"x": 5})
    console.print(
        f"execute(x=5): status={execution.status} final_output={execution.final_output} "
        f"steps={execution.steps_completed}/{execution.total_steps} in {execution.execution_time_ms:.1f} ms"
    )
    usage = alice.tool_usage.count(skill_execution_id=execution.id)
    console.print(f"tool calls logged for that execution: {usage}")


def run_memories_and_search(alice: Phase3Client, count: int, embedder: Embedder) -> None:
    section("4. Memories: bulk ingest with embeddings, then search")
    start = datetime.now(UTC) - timedelta(days=120)
    rows = generate_history(n=count, seed=7, start=start, planted=True, embedder=embedder)
    started = time.perf_counter()
    stored = alice.conversations.bulk_create(rows, batch_size=500, progress=True)
    seconds = time.perf_counter() - started
    console.print(f"stored {stored} memories in {seconds:.2f} s ({stored / seconds:,.0f} rows/s)")

    table = Table("search", "top hit", "score")
    for kind, hits in (
        ("semantic", alice.search.semantic("anxious about the monday meeting", match_count=3)),
        ("text", alice.search.text("climbing", match_count=3)),
        ("hybrid", alice.search.hybrid("monday meeting anxiety", match_count=3)),
    ):
        if hits:
            top = hits[0]
            score = top.score if top.score is not None else (top.similarity or top.rank or 0.0)
            table.add_row(kind, top.text, f"{score:.3f}")
        else:
            table.add_row(kind, "(nothing)", "-")
    console.print(table)

    # What "semantic" means here: hits about the query's meaning, not only its words.
    for query in ("I dread the start of the work week", "time outdoors with friends"):
        hits = alice.search.semantic(query, match_count=20)
        console.print(f"semantic [bold]{query!r}[/bold] (ranked by {hits.method}):")
        firsts = {hit.messages[0]["content"]: hit.similarity for hit in reversed(hits)}  # the seed repeats
        for text, similarity in sorted(firsts.items(), key=lambda kv: -(kv[1] or 0.0))[:3]:
            console.print(f"  {similarity or 0.0:.3f}  {text}", markup=False)


def run_synthesis(client: Phase3Client, alice: Phase3Client) -> None:
    section("5. Memory synthesis: a job, a worker, patterns and recommendations")
    job = alice.synthesis_jobs.submit("full_synthesis")
    client.service().synthesis_jobs.run_worker(concurrency=1, once=True)
    job = alice.synthesis_jobs.wait(job.id, timeout=60, progress=False)
    console.print(
        f"job {job.status}: {job.memories_analyzed} memories analysed, {job.patterns_detected} patterns"
    )
    table = Table("layer", "pattern", "confidence", "seen")
    for pattern in alice.patterns.list(min_confidence=0.5, order="-confidence", limit=8):
        table.add_row(
            str(pattern.layer),
            pattern.description,
            f"{pattern.confidence:.2f}",
            str(pattern.observation_count),
        )
    console.print(table)
    for rec in alice.recommendations.list(status="pending", limit=3):
        console.print(f"({rec.priority}) {rec.recommendation}", markup=False)


def show_isolation(alice: Phase3Client, bob: Phase3Client) -> None:
    section("6. Row-level security: Bob sees none of Alice's rows")
    tool = next(iter(alice.tools.list(limit=1)))
    console.print(f"Alice: {alice.conversations.count()} memories, {alice.tools.count()} tools")
    console.print(f"Bob:   {bob.conversations.count()} memories, {bob.tools.count()} tools")
    try:
        bob.tools.get(tool.id)
    except NotFoundError as exc:
        console.print(f"Bob asking for Alice's tool: NotFoundError ({exc.message})")
    hits = bob.search.semantic("anxious about the monday meeting", match_count=5)
    console.print(f"Bob searching Alice's words finds {len(hits)} memories")


if __name__ == "__main__":
    main()

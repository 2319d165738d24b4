"""Skill-engine cost on the embedded database: per-step overhead, round trips, QuickJS vs. Python tools.

    .venv/bin/python benchmarks/skills.py [--runs 30]

A 10-step chain of trivial Python handlers (``v -> v + 1``), executed end to end with persistence
(start, one checkpoint per step, finish), on the blocking and the asyncio client. Round trips are counted
for real by a wrapper around the client's backend (one backend call = one request: one HTTP request over
REST, one pipelined transaction on the Postgres backend). Targets (issue 4): <= 2 round trips per step,
<= 5 ms engine overhead per step including its checkpoint, <= 2 ms per QuickJS call.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from phase3_sdk import AsyncPhase3Client, Phase3Client
from phase3_sdk._async.engine.tools import AsyncToolRunner
from phase3_sdk._sync.engine.tools import ToolRunner
from phase3_sdk.backends.base import Rpc
from phase3_sdk.db.embedded import EmbeddedDatabase
from phase3_sdk.engine.runs import ResolvedTool
from phase3_sdk.engine.sandbox import run_js_tool

STEPS = 10
JS_INC = "return { v: params.v + 1 };"


def inc(params: dict[str, Any]) -> dict[str, int]:
    return {"v": (params.get("v") or 0) + 1}


def chain() -> list[dict[str, Any]]:
    steps = [{"stepId": "s1", "toolName": "inc", "inputMapping": {"v": "$.input.v"}}]
    steps += [
        {"stepId": f"s{i}", "toolName": "inc", "inputMapping": {"v": f"$.s{i - 1}.v"}}
        for i in range(2, STEPS + 1)
    ]
    return steps


class Counting:
    """Wraps a backend and counts every call by method (each call is one request / transaction)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.seconds = 0.0  # time spent inside backend calls (network + database)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name not in {"select", "count", "insert", "update", "delete", "rpc"}:
            return attr

        if asyncio.iscoroutinefunction(attr):

            async def acounted(*args: Any, **kwargs: Any) -> Any:
                self.calls[name if name != "rpc" else f"rpc:{args[0].function}"] += 1
                t = time.perf_counter()
                try:
                    return await attr(*args, **kwargs)
                finally:
                    self.seconds += time.perf_counter() - t

            return acounted

        def counted(*args: Any, **kwargs: Any) -> Any:
            self.calls[name if name != "rpc" else f"rpc:{args[0].function}"] += 1
            t = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - t

        return counted

    def total(self) -> int:
        return sum(self.calls.values())


def timed(fn: Callable[[], Any], n: int) -> float:
    """Median milliseconds of ``n`` calls."""
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


def bench_sync(url: str, user: Any, runs: int) -> dict[str, float]:
    client = Phase3Client.connect(url)
    counting = Counting(client._shared.backend)
    client._shared.backend = counting
    me = client.as_user(user_id=user)
    me.tools.register("inc", inc)
    skill = me.skills.create(name="bench-sync", steps=chain())
    for _ in range(3):
        me.skills.execute(skill, {"v": 0})  # warm the pool and the caches
    counting.calls.clear()
    counting.seconds = 0.0
    t0 = time.perf_counter()
    wall = timed(lambda: me.skills.execute(skill, {"v": 0}), runs)
    mean_ms = (time.perf_counter() - t0) * 1000 / runs
    db_ms = counting.seconds * 1000 / runs
    per_exec = counting.total() / runs
    by_id = counting.calls.copy()
    counting.calls.clear()
    me.skills.execute(skill.id, {"v": 0})  # by id: one more request, to read the skill
    by_id_total = counting.total()
    rpc_ms = timed(
        lambda: me._transport.rpc(
            Rpc("log_tool_calls", {"p_usage": []}, returns="scalar", casts={"p_usage": "jsonb"}),
            idempotent=True,
        ),
        runs,
    )
    last = me.skills.execute(skill, {"v": 0})
    assert (last.status, last.final_output) == ("completed", {"v": STEPS}), last
    client.close()
    return {
        "wall": wall,
        "per_exec": per_exec,
        "by_id": by_id_total,
        "rpc_ms": rpc_ms,
        "cpu": (mean_ms - db_ms) / STEPS,
        "db": db_ms / STEPS,
        "checkpoints": by_id["rpc:checkpoint_skill_step"] / runs,
        "mix": {k: v // runs for k, v in sorted(by_id.items())},
    }


async def bench_async(url: str, user: Any, runs: int) -> dict[str, float]:
    async with AsyncPhase3Client.connect(url) as client:
        counting = Counting(client._shared.backend)
        client._shared.backend = counting
        me = client.as_user(user_id=user)
        me.tools.register("inc", inc)
        skill = await me.skills.create(name="bench-async", steps=chain())
        for _ in range(3):
            await me.skills.execute(skill, {"v": 0})
        counting.calls.clear()
        counting.seconds = 0.0
        samples = []
        for _ in range(runs):
            t = time.perf_counter()
            await me.skills.execute(skill, {"v": 0})
            samples.append((time.perf_counter() - t) * 1000)
        per_exec = counting.total() / runs
        t_rpc = []
        for _ in range(runs):
            t = time.perf_counter()
            await me._transport.rpc(
                Rpc("log_tool_calls", {"p_usage": []}, returns="scalar", casts={"p_usage": "jsonb"}),
                idempotent=True,
            )
            t_rpc.append((time.perf_counter() - t) * 1000)
        runner = AsyncToolRunner(me._transport, me._shared.registry)
        handler = ResolvedTool("inc", handler=inc)
        t_py = []
        for _ in range(200):
            t = time.perf_counter()
            await runner.invoke(handler, {"v": 1})
            t_py.append((time.perf_counter() - t) * 1000)
        db_ms = counting.seconds * 1000 / runs
        return {
            "wall": statistics.median(samples),
            "per_exec": per_exec,
            "rpc_ms": statistics.median(t_rpc),
            "cpu": (statistics.mean(samples) - db_ms) / STEPS,
            "db": db_ms / STEPS,
            "py_invoke": statistics.median(t_py),
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--migrations", default=None, help="migrations folder (default: the repository's)")
    args = parser.parse_args()
    with EmbeddedDatabase() as db:
        db.setup(args.migrations)
        user = db.create_user("bench@example.test")
        s = bench_sync(db.url, user, args.runs)
        a = asyncio.run(bench_async(db.url, user, args.runs))

    runner = ToolRunner(None, None)  # type: ignore[arg-type]  # invoke() of a handler needs no I/O
    handler = ResolvedTool("inc", handler=inc)
    js_ms = timed(lambda: run_js_tool(JS_INC, {"v": 1}), 500)
    js_strict = timed(lambda: run_js_tool(JS_INC, {"v": 1}, "strict"), 500)
    py_raw = timed(lambda: inc({"v": 1}), 2000)
    py_invoke = timed(lambda: runner.invoke(handler, {"v": 1}), 2000)

    print(f"\n10-step chain of trivial Python handlers, embedded PostgreSQL, median of {args.runs} runs\n")
    rows = [
        ("", "sync client", "async client", "target"),
        ("execution wall time (ms)", f"{s['wall']:.2f}", f"{a['wall']:.2f}", ""),
        (
            "engine overhead per step incl. checkpoint (ms)",
            f"{s['wall'] / STEPS:.2f}",
            f"{a['wall'] / STEPS:.2f}",
            "<= 5",
        ),
        ("  of which: in the database per step (ms, mean)", f"{s['db']:.2f}", f"{a['db']:.2f}", ""),
        ("  of which: engine CPU per step (ms, mean)", f"{s['cpu']:.3f}", f"{a['cpu']:.3f}", ""),
        ("round trips per execution (Skill passed)", f"{s['per_exec']:.1f}", f"{a['per_exec']:.1f}", ""),
        ("round trips per execution (by id)", f"{s['by_id']:.0f}", "", ""),
        ("round trips per step, amortized (by id)", f"{s['by_id'] / STEPS:.2f}", "", "<= 2"),
        ("checkpoint round trips per step", f"{s['checkpoints'] / STEPS:.2f}", "", ""),
        ("one bare RPC round trip (ms), for scale", f"{s['rpc_ms']:.2f}", f"{a['rpc_ms']:.2f}", ""),
        ("", "", "", ""),
        ("QuickJS call, fresh context, standard (ms)", f"{js_ms:.3f}", "", "<= 2"),
        ("QuickJS call, fresh context, strict (ms)", f"{js_strict:.3f}", "", "<= 2"),
        ("Python handler, direct call (ms)", f"{py_raw:.4f}", "", ""),
        ("Python handler via the tool runner (ms)", f"{py_invoke:.4f}", f"{a['py_invoke']:.4f}", ""),
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))
    print(
        "\nrequests per execution, sync client, Skill passed:",
        ", ".join(f"{k}={v}" for k, v in s["mix"].items()),
    )


if __name__ == "__main__":
    main()

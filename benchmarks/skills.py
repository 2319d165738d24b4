"""Skill-engine cost on the embedded database: per-step overhead, round trips, QuickJS vs. Python tools.

    .venv/bin/python benchmarks/skills.py [--runs 30]

A 10-step chain of trivial Python handlers (``v -> v + 1``), executed end to end with persistence
(start, one checkpoint per step, finish), on the blocking and the asyncio client. Round trips are counted
for real by a wrapper around the client's backend (one backend call = one request: one HTTP request over
REST, one pipelined transaction on the Postgres backend). Targets (issue 4): <= 2 round trips per step,
<= 5 ms engine overhead per step including its checkpoint, <= 2 ms per QuickJS call.

The sandbox section (alone: ``--sandbox-only``, no database) compares, warm and side by side, a call
through the supervised worker pool (``run_js_tool``, what the SDK does) with the old in-process QuickJS
call (``run_js_tool_in_process``: no hard time bound), for tools and for conditions; then runs the
hostile cases of issue 15 through both and prints each one's wall time as a multiple of its limit.
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
from phase3_sdk.engine.conditions import evaluate_condition
from phase3_sdk.engine.runs import ResolvedTool
from phase3_sdk.engine.sandbox import (
    PROFILES,
    SandboxLimits,
    evaluate_condition_in_process,
    run_js_tool_in_process,
)
from phase3_sdk.engine.supervisor import SandboxPool, default_pool, run_js_tool

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


ROOMY = SandboxLimits(100, 256 * 1024 * 1024, 256 * 1024, 4096)
HOSTILE: list[tuple[str, str, SandboxLimits]] = [
    (
        "quadratic indexOf 2^21 / 2^12 (strict)",
        'return "a".repeat(1 << 21).indexOf("a".repeat(1 << 12) + "b");',
        PROFILES["strict"],
    ),
    (
        "quadratic indexOf 2^19 / 2^11 (strict)",
        'return "a".repeat(1 << 19).indexOf("a".repeat(1 << 11) + "b");',
        PROFILES["strict"],
    ),
    ("regex /(a+)+$/ on a*30+b (strict)", "return /(a+)+$/.test('a'.repeat(30) + 'b');", PROFILES["strict"]),
    (
        "JSON.stringify of 4e6 numbers (100 ms)",
        "const row = Array(1000).fill(Math.PI); return JSON.stringify(Array(4000).fill(row)).length;",
        ROOMY,
    ),
    ("Array(1e7).fill().map (100 ms)", "return Array(1e7).fill().map((_, i) => i * 2).length;", ROOMY),
    (
        "sort 1e6, slow comparator (100 ms)",
        "const a = Array.from({ length: 1e6 }, (_, i) => (i * 7919) % 1e6);"
        " a.sort((x, y) => { let s = 0; for (let k = 0; k < 20; k++) s += k; return x - y; }); return a[0];",
        ROOMY,
    ),
    ("while (true) {} (strict)", "while (true) {}", PROFILES["strict"]),
]


def _alternating(a: Callable[[], Any], b: Callable[[], Any], n: int) -> tuple[float, float]:
    """Medians (ms) of ``a`` and ``b``, measured in alternating blocks so load hits both alike."""
    sa: list[float] = []
    sb: list[float] = []
    for _ in range(n // 50):
        for fn, out in ((a, sa), (b, sb)):
            for _ in range(50):
                t = time.perf_counter()
                fn()
                out.append((time.perf_counter() - t) * 1000)
    return statistics.median(sa), statistics.median(sb)


def bench_sandbox(n: int) -> None:
    pool = default_pool()
    pool.warm(2)
    params = {"v": 1}
    context = {"input": {"mode": "fast"}, "step1": {"result": 12}}
    cond = "step1.result > 10 && input.mode === 'fast'"
    body = '"use strict";\nconst input = arguments[0]["input"], step1 = arguments[0]["step1"];\n'
    values = '{"input": {"mode": "fast"}, "step1": {"result": 12}}'
    old_tool, new_tool = _alternating(
        lambda: run_js_tool_in_process(JS_INC, params), lambda: run_js_tool(JS_INC, params), n
    )
    old_strict, new_strict = _alternating(
        lambda: run_js_tool_in_process(JS_INC, params, "strict"),
        lambda: run_js_tool(JS_INC, params, "strict"),
        n,
    )
    old_cond, new_cond = _alternating(
        lambda: evaluate_condition_in_process(cond, body, values),
        lambda: evaluate_condition(cond, context),
        n,
    )

    async def via_threads(fn: Callable[..., Any]) -> float:
        samples = []
        for _ in range(n // 2):
            t = time.perf_counter()
            await asyncio.to_thread(fn, JS_INC, params)
            samples.append((time.perf_counter() - t) * 1000)
        return statistics.median(samples)

    old_async = asyncio.run(via_threads(run_js_tool_in_process))
    new_async = asyncio.run(via_threads(run_js_tool))
    cold = []
    for _ in range(5):
        fresh = SandboxPool(max_idle=1)
        t = time.perf_counter()
        fresh.run_tool(JS_INC, '{"v": 1}', PROFILES["standard"])
        cold.append((time.perf_counter() - t) * 1000)
        fresh.close()

    print(f"\nSandbox: worker pool (new) vs in-process QuickJS (old), warm, median of {n} calls each\n")
    rows = [
        ("", "in-process (old)", "worker pool (new)", "added per call"),
        ("tool call, standard (ms)", f"{old_tool:.3f}", f"{new_tool:.3f}", f"{new_tool - old_tool:+.3f}"),
        (
            "tool call, strict (ms)",
            f"{old_strict:.3f}",
            f"{new_strict:.3f}",
            f"{new_strict - old_strict:+.3f}",
        ),
        ("condition, 2 bindings (ms)", f"{old_cond:.3f}", f"{new_cond:.3f}", f"{new_cond - old_cond:+.3f}"),
        (
            "tool call via asyncio.to_thread (ms)",
            f"{old_async:.3f}",
            f"{new_async:.3f}",
            f"{new_async - old_async:+.3f}",
        ),
        ("first call, cold worker start (ms)", "", f"{statistics.median(cold):.1f}", ""),
    ]
    _print_table(rows)

    print("\nHostile code: wall time of one call / its time limit (hard bound: < 2.0)\n")
    rows = [("", "limit (ms)", "in-process (old)", "worker pool (new)", "new: status")]
    worst = 0.0
    for name, code, limits in HOSTILE:
        run_js_tool("return 1;", {})  # a warm worker is ready
        t = time.perf_counter()
        outcome = run_js_tool(code, {}, limits=limits)
        new_ratio = (time.perf_counter() - t) * 1000 / limits.time_limit_ms
        worst = max(worst, new_ratio)
        if name.startswith("quadratic indexOf 2^21"):
            old = "(12-16 s: skipped)"
        else:
            t = time.perf_counter()
            run_js_tool_in_process(code, {}, limits=limits)
            old = f"{(time.perf_counter() - t) * 1000 / limits.time_limit_ms:.2f}x"
        status = outcome.status + (" (killed)" if outcome.killed else "")
        rows.append((name, f"{limits.time_limit_ms:g}", old, f"{new_ratio:.2f}x", status))
    _print_table(rows)
    print(f"\nworst ratio, worker pool: {worst:.2f}x the limit; workers killed: {pool.killed}")


def _print_table(rows: list[tuple[str, ...]]) -> None:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(r)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--migrations", default=None, help="migrations folder (default: the repository's)")
    parser.add_argument("--sandbox-only", action="store_true", help="only the sandbox section (no database)")
    parser.add_argument("--calls", type=int, default=1000, help="calls per sandbox measurement")
    args = parser.parse_args()
    if args.sandbox_only:
        bench_sandbox(args.calls)
        return
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
    bench_sandbox(args.calls)


if __name__ == "__main__":
    main()

"""Sandbox overruns: hostile tool code (benchmarks/skills.py HOSTILE) is stopped; the host is unharmed.

Each case runs through the worker pool every tool call uses. What is asserted is behaviour, not speed:
each ends as a ``timeout`` or ``failure`` (never a result), and afterwards the pool still answers a
plain call. How long each took, as a ratio to its limit, is written to the reliability results: the
report shows the worst (the hard bound is 2x; ``benchmarks/skills.py`` prints the same table).
"""

from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from phase3_sdk.engine.supervisor import default_pool, run_js_tool

from ._results import record


def hostile_cases() -> list[tuple[str, str, Any]]:
    """The benchmark's list, loaded from its file (benchmarks/ is not a package)."""
    path = Path(__file__).resolve().parents[2] / "benchmarks" / "skills.py"
    spec = importlib.util.spec_from_file_location("phase3_benchmarks_skills", path)
    assert spec is not None
    assert spec.loader is not None
    module: ModuleType = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.HOSTILE)


def test_hostile_code_is_stopped_and_the_pool_survives() -> None:
    pool = default_pool()
    killed_before = pool.killed
    rows = []
    for name, code, limits in hostile_cases():
        assert run_js_tool("return 1;", {}).output == 1  # a warm worker, as in the benchmark
        began = time.perf_counter()
        outcome = run_js_tool(code, {}, limits=limits)
        ratio = (time.perf_counter() - began) * 1000 / limits.time_limit_ms
        rows.append(
            {
                "case": name,
                "limit_ms": limits.time_limit_ms,
                "ratio": ratio,
                "status": outcome.status,
                "killed": outcome.killed,
            }
        )
    record(
        "sandbox_overruns",
        {
            "cases": rows,
            "worst_ratio": max(r["ratio"] for r in rows),
            "workers_killed": pool.killed - killed_before,
        },
    )
    assert [r["case"] for r in rows if r["status"] == "success"] == []
    assert run_js_tool("return params.x * 2;", {"x": 21}).output == 42

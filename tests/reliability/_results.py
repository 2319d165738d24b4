"""Where the reliability tests leave their figures, for ``python -m tests.reliability.report``.

Each test that measures something writes one JSON file named after its case into a results folder:
``$PHASE3_RELIABILITY_RESULTS`` if set (the report sets it to a fresh temp folder before running the
suite), else ``.pytest_cache/reliability/`` at the repository root. Figures are written as measured;
the report only formats them.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
ENV = "PHASE3_RELIABILITY_RESULTS"


def results_dir() -> Path:
    """The folder results are written to and read from."""
    folder = Path(os.environ.get(ENV) or REPO_ROOT / ".pytest_cache" / "reliability")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def record(case: str, figures: dict[str, Any]) -> None:
    """Write one case's figures (JSON-serialisable values), replacing an earlier run's."""
    (results_dir() / f"{case}.json").write_text(json.dumps(figures, indent=2, sort_keys=True, default=str))


def load_all() -> dict[str, dict[str, Any]]:
    """Every case's figures found in the results folder, by case name."""
    return {p.stem: json.loads(p.read_text()) for p in sorted(results_dir().glob("*.json"))}


def percentiles(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99 (milliseconds) of latencies given in seconds; empty input gives zeros."""
    if not samples:
        return {"n": 0, "p50": 0.0, "p95": 0.0, "p99": 0.0}
    if len(samples) == 1:
        only = samples[0] * 1000
        return {"n": 1, "p50": only, "p95": only, "p99": only}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"n": len(samples), "p50": cuts[49] * 1000, "p95": cuts[94] * 1000, "p99": cuts[98] * 1000}


def rss_bytes() -> int:
    """This process's resident memory (Linux ``/proc``), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0

"""The reliability report: ``python -m tests.reliability.report``.

Runs the reliability suite (``pytest tests/reliability``; add ``--slow`` for the long cases too) with its
results going to a fresh folder, then prints what the tests measured: operations run, faults injected,
retries, lost writes, duplicates, leaks, sandbox overruns (worst ratio to the limit) and p50/p95/p99
per operation. Every figure is read from what a test wrote while it ran; nothing here is typed in.
``--from-cache`` prints the figures of the last ``pytest`` run instead (``.pytest_cache/reliability``).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from typing import Any

from rich.console import Console
from rich.table import Table

from ._results import ENV, REPO_ROOT, load_all, results_dir


def _n(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


def summary_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Reliability: what was run and what went wrong")
    for column in (
        "case",
        "operations",
        "faults injected",
        "retries",
        "lost writes",
        "duplicates",
        "leaks",
        "errors / untyped",
    ):
        table.add_column(column, justify="left" if column == "case" else "right")
    for name in ("load_sync", "load_async"):
        if r := results.get(name):
            table.add_row(
                f"load, {r['flavour']} ({r['workers']} workers, {r['users']} users, {r['seconds']:.1f} s)",
                _n(r["operations"]),
                "0",
                "-",
                "-",
                "-",
                _n(r["cross_user_reads"]),
                _n(r["errors"]),
            )
    for name in sorted(k for k in results if k.startswith("rest_faults_")):
        r = results[name]
        for label in ("clean", "faulty"):
            x = r.get(label)
            if not x:
                continue
            table.add_row(
                f"REST faults, {label} ({x['requests']} requests, {x['seconds']:.1f} s)",
                _n(r["operations"]),
                _n(x["faults_injected"]),
                _n(x["retries"]),
                _n(x["lost_writes"]),
                _n(x["duplicates"]),
                _n(x["strays"]),
                _n(sum(v for k, v in x["surfaced"].items() if k.startswith("Transient"))),
            )
    if r := results.get("postgres_restart"):
        table.add_row(
            f"Postgres restarted ({r['outage_seconds']:.1f} s down)",
            _n(r["operations"]),
            "1 restart",
            "-",
            _n(r["lost_writes"]),
            _n(r["duplicates"]),
            "-",
            f"{sum(r['errors'].values())} / {len(r['untyped'])}",
        )
    for name in sorted(k for k in results if k.startswith("rls_")):
        r = results[name]
        table.add_row(
            f"RLS, {r['backend']} ({r['mismatches']} mismatches)",
            _n(r["cells"]),
            "-",
            "-",
            "-",
            "-",
            _n(r["leaks"]),
            "-",
        )
    for name in sorted(k for k in results if k.startswith("secrets_")):
        r = results[name]
        ran = r.get("texts_checked", r.get("runs"))
        label = f"secrets, {name.removeprefix('secrets_')}"
        table.add_row(label, _n(ran), "-", "-", "-", "-", _n(r["leaks"]), "-")
    if r := results.get("sandbox_overruns"):
        table.add_row(
            f"sandbox, hostile (worst {r['worst_ratio']:.2f}x limit, {r['workers_killed']} killed)",
            _n(len(r["cases"])),
            "-",
            "-",
            "-",
            "-",
            "-",
            "-",
        )
    return table


def latency_table(results: dict[str, dict[str, Any]]) -> Table:
    table = Table(title="Latency per operation (ms)")
    for column in ("run", "operation", "n", "p50", "p95", "p99"):
        table.add_column(column, justify="left" if column in ("run", "operation") else "right")
    runs: list[tuple[str, dict[str, Any]]] = []
    for name in ("load_sync", "load_async"):
        if r := results.get(name):
            runs.append((f"load {r['flavour']}", r["latency_ms"]))
    for name in sorted(k for k in results if k.startswith("rest_faults_")):
        for label in ("clean", "faulty"):
            if x := results[name].get(label):
                runs.append((f"REST {label}", x["latency_ms"]))
    for run, ops in runs:
        for op, p in ops.items():
            table.add_row(run, op, _n(p["n"]), f"{p['p50']:.1f}", f"{p['p95']:.1f}", f"{p['p99']:.1f}")
    return table


def sandbox_table(results: dict[str, dict[str, Any]]) -> Table | None:
    r = results.get("sandbox_overruns")
    if not r:
        return None
    table = Table(title="Sandbox: wall time of one hostile call / its limit (hard bound 2x)")
    for column in ("case", "limit (ms)", "ratio", "status"):
        table.add_column(column, justify="left" if column == "case" else "right")
    for c in r["cases"]:
        table.add_row(
            c["case"],
            _n(c["limit_ms"]),
            f"{c['ratio']:.2f}x",
            c["status"] + (" (killed)" if c["killed"] else ""),
        )
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--slow", action="store_true", help="run the slow cases too")
    parser.add_argument("--from-cache", action="store_true", help="print the last pytest run's figures")
    args = parser.parse_args(argv)
    console = Console(width=max(150, Console().width))
    code = 0
    if not args.from_cache:
        os.environ[ENV] = tempfile.mkdtemp(prefix="phase3-reliability-")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "tests/reliability"]
        if not args.slow:
            command += ["-m", "not slow"]
        console.print(f"[bold]running[/bold] {' '.join(command[2:])}")
        code = subprocess.run(command, cwd=REPO_ROOT, env=os.environ.copy()).returncode
    results = load_all()
    if not results:
        console.print(f"no figures in {results_dir()}")
        return code or 1
    console.print(summary_table(results))
    console.print(latency_table(results))
    if (table := sandbox_table(results)) is not None:
        console.print(table)
    for name in ("load_sync", "load_async"):
        if r := results.get(name):
            console.print(
                f"{name}: connections (pg_stat_activity, max) first half {r['connections_first_half_max']}, "
                f"second half {r['connections_second_half_max']}; RSS at the end of the first half "
                f"{r['rss_first_half_end'] / 2**20:.1f} MiB, "
                f"of the second {r['rss_second_half_end'] / 2**20:.1f} MiB"
            )
    for name in sorted(k for k in results if k.startswith("rest_faults_")):
        r = results[name]
        console.print(
            f"{name}: the faults added {r['added_latency_seconds']:.1f} s over the fault-free run; "
            f"faults by kind: {r.get('faulty', {}).get('faults')}"
        )
    console.print(f"pytest exit code: {code}; figures from {results_dir()}")
    return code


if __name__ == "__main__":
    raise SystemExit(main())

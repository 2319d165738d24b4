"""examples/notebook.ipynb runs top to bottom from the built wheel on a throwaway embedded database, and shows
what it says."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from phase3_sdk.db import EmbeddedDatabase

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


class RecordingClient(NotebookClient):
    """nbclient as it is, also noting each cell's display messages by display id (a saved notebook keeps
    only each display's last state, without its id)."""

    def process_message(self, msg: dict[str, Any], cell: Any, cell_index: int) -> Any:
        transient = msg["content"].get("transient") or {}
        if transient.get("display_id"):
            cell.metadata.setdefault("displays", []).append([msg["msg_type"], transient["display_id"]])
        return super().process_message(msg, cell, cell_index)


#: Run first (not saved in the example): the SDK the notebook uses, and its schema, are the wheel's.
FROM_THE_WHEEL = """
import os
from pathlib import Path

import phase3_sdk
from phase3_sdk.db.migrator import default_migrations_dir

site = Path(os.environ["PYTHONPATH"])
assert Path(phase3_sdk.__file__).is_relative_to(site), phase3_sdk.__file__
assert default_migrations_dir() == site / "phase3_sdk" / "_migrations", default_migrations_dir()
print("phase3_sdk and its migrations from the wheel")
"""


@pytest.fixture
def executed(tmp_path: Path, wheel: Path, monkeypatch: pytest.MonkeyPatch) -> nbformat.NotebookNode:
    # The notebook runs on the built wheel, as a user's would: installed without its dependencies (those
    # of this venv serve; installing them afresh would take minutes) into a folder put first on the
    # kernel's import path, from a working folder outside the checkout.
    site = tmp_path / "site"
    installed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--target", str(site), str(wheel)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert installed.returncode == 0, installed.stderr
    work = tmp_path / "work"
    work.mkdir()
    assert ROOT not in work.parents
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    notebook.cells.insert(0, nbformat.v4.new_code_cell(FROM_THE_WHEEL))
    db = tmp_path / "db"
    monkeypatch.setenv("PHASE3_NOTEBOOK_DB", str(db))
    monkeypatch.setenv("PYTHONPATH", str(site))
    try:
        # The kernel is this interpreter (ipykernel in the same venv).
        RecordingClient(
            notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": work}}
        ).execute()
    finally:
        # local() leaves its server running (like `phase3 dev up`): stop it, as `phase3 dev down` does.
        if db.exists():
            EmbeddedDatabase(db, persistent=True).start().stop()
    assert "from the wheel" in _outputs(notebook.cells[0], "text/plain")
    return notebook


def _outputs(cell: nbformat.NotebookNode, kind: str) -> str:
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream":
            parts.append(out.get("text", ""))
        elif kind in out.get("data", {}):
            parts.append(out["data"][kind])
    return "\n".join(parts)


def test_the_notebook_runs_and_shows_tables_compact_reprs_and_the_timeline(
    executed: nbformat.NotebookNode,
) -> None:
    code = [c for c in executed.cells if c.cell_type == "code"]
    by_source = {c.source.splitlines()[0]: c for c in code}
    tools = _outputs(by_source["alice.tools.create("], "text/html")
    assert '<table class="phase3-rows">' in tools
    assert "double" in tools
    columns = _outputs(
        by_source['alice.tools.list(columns=["name", "usage_count", "created_at"])'], "text/html"
    )
    assert "<th>name</th><th>usage_count</th><th>created_at</th></tr>" in columns
    assert "<th>id</th>" not in columns
    skill = _outputs(by_source["steps = ["], "text/plain")
    assert "completed {'result': 20}" in skill
    synthesis = _outputs(by_source['job = alice.synthesis_jobs.submit("full_synthesis")'], "text/plain")
    assert "completed" in synthesis
    pattern = _outputs(
        by_source["# A model's repr stays short: the evidence's list of memory ids shows as a count."],
        "text/plain",
    )
    assert pattern.startswith("Pattern(")
    assert " ids>" in pattern
    assert pattern.count("-") < 60
    # The progress bar is one output updated through its display id (no ipywidgets in this kernel), left
    # in its final state, and rich's warning about ipywidgets never appears.
    stored = by_source["from phase3_sdk.testing.seed import generate_history"]
    bars = [out for out in stored.outputs if "storing memories" in out.get("data", {}).get("text/plain", "")]
    assert len(bars) == 1
    assert "600/600" in bars[0]["data"]["text/plain"]
    messages = stored.metadata["displays"]
    assert {display_id for _, display_id in messages} == {messages[0][1]}
    assert [kind for kind, _ in messages][:2] == ["display_data", "update_display_data"]
    assert "ipywidgets" not in _outputs(stored, "text/plain")
    plot = by_source["import matplotlib.pyplot as plt"]
    assert any("image/png" in out.get("data", {}) for out in plot.outputs)
    marked = _outputs(plot, "text/plain")
    assert "600 memories" in marked
    assert "0 emotional patterns" not in marked

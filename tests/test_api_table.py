"""The README's public API table is generated from the code (scripts/api_table.py) and kept equal to it."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[1]


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("api_table", ROOT / "scripts" / "api_table.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_readme_api_table_is_the_codes() -> None:
    script = _script()
    assert script.readme_table((ROOT / "README.md").read_text()) == script.markdown(), (
        "run python scripts/api_table.py --write"
    )
    assert script.main(["--check"]) == 0


def test_the_table_reads_the_signatures_users_call() -> None:
    rows = {(r, m): p for r, m, p in _script().rows()}
    # Every resource with its list/page/count, page_size before the keyword-only part, limit marked.
    for resource in ("tools", "skills", "synthesis_jobs", "patterns", "recommendations", "conversations"):
        assert rows[(resource, "page")].startswith("page_size=, cursor=, *, order=, limit= (deprecated)")
        assert "page_size=, limit=" in rows[(resource, "list")]
    assert rows[("tools", "list")].endswith("**filters: ToolFilters")
    assert rows[("synthesis_jobs", "wait")] == "job_id, *, timeout=, progress=, poll_interval="
    assert ("synthesis_jobs", "create (deprecated)") in rows
    assert ("tools", "run (deprecated)") in rows
    assert ("tools", "execute") in rows
    assert not any(r == "synthesis" for r, _ in rows)  # a deprecated resource name is not listed twice
    assert ("conversations", "create_many (deprecated)") in rows
    assert ("conversations", "bulk_create") in rows
    assert rows[("search", "semantic")].startswith("query, *, match_count=")


def test_a_stale_table_is_reported(tmp_path: Path) -> None:
    script = _script()
    stale = tmp_path / "README.md"
    text = (ROOT / "README.md").read_text()
    stale.write_text(text.replace("| `tools` | `count` |", "| `tools` | `tally` |"))
    script.README = stale
    assert script.main(["--check"]) == 1
    assert script.main(["--write"]) == 0
    assert stale.read_text() == text

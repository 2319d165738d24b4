"""The blocking client is generated from the asyncio one; a stale copy would silently diverge."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_sync_code_is_generated_from_current_async_source() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_sync.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_sync_under_test", ROOT / "scripts" / "gen_sync.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_replacement_that_never_applies_fails_generation_and_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    generator = _load_generator()
    monkeypatch.setitem(generator.REPLACEMENTS, "AsyncNothingByThisName", "NothingByThisName")
    with pytest.raises(generator.UnusedReplacementError, match="AsyncNothingByThisName"):
        generator.generate(tmp_path)
    monkeypatch.setattr(sys, "argv", ["gen_sync.py", "--check"])
    assert generator.main() == 2

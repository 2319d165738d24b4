"""The blocking client is generated from the asyncio one; a stale copy would silently diverge."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_sync_code_is_generated_from_current_async_source() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_sync.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr

"""``phase3_sdk.schema`` (table metadata, cursors) was ``phase3_sdk.resources``: the old path still
imports, with a DeprecationWarning, and gives the very same modules; the SDK itself never uses it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import phase3_sdk.schema.query
import phase3_sdk.schema.tables


def test_the_old_path_warns_and_is_the_same_modules(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("phase3_sdk.resources", "phase3_sdk.resources.query", "phase3_sdk.resources.tables"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    with pytest.warns(DeprecationWarning, match=r"phase3_sdk\.resources is deprecated.*phase3_sdk\.schema"):
        old_query = importlib.import_module("phase3_sdk.resources.query")
    assert old_query is phase3_sdk.schema.query
    assert importlib.import_module("phase3_sdk.resources.tables") is phase3_sdk.schema.tables
    from phase3_sdk.resources.tables import TOOLS

    assert TOOLS is phase3_sdk.schema.tables.TOOLS


def test_importing_the_sdk_raises_no_deprecation_warning() -> None:
    # A fresh interpreter, warnings as errors: none of the SDK's own imports may go through a shim.
    code = (
        "import phase3_sdk, phase3_sdk._sync.client, phase3_sdk._async.client, phase3_sdk.db, "
        "phase3_sdk.cli, phase3_sdk.filters, phase3_sdk.testing.seed"
    )
    done = subprocess.run(
        [sys.executable, "-W", "error::DeprecationWarning", "-c", code],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr

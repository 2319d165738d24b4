"""Backend capabilities are declared on the Backend protocol and read directly, never guessed."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.backends.base import AsyncBackend, SyncBackend
from support.backends import ANON_KEY, BASE_URL, JWT_SECRET, SERVICE_KEY

CAPABILITIES = ("typed_rows", "bulk_copy", "has_service_key", "max_rows")
SRC = Path(__file__).resolve().parents[2] / "src" / "phase3_sdk"


@pytest.mark.parametrize("protocol", [AsyncBackend, SyncBackend])
def test_the_protocol_declares_every_capability(protocol: type) -> None:
    for name in CAPABILITIES:
        assert isinstance(vars(protocol).get(name), property), name


def test_no_capability_is_read_with_getattr() -> None:
    names = "|".join(CAPABILITIES)
    pattern = re.compile(rf"getattr\([^)]*[\"']({names})[\"']")
    offenders = [str(path.relative_to(SRC)) for path in SRC.rglob("*.py") if pattern.search(path.read_text())]
    assert offenders == []


def test_each_backend_says_what_it_can(db_url: str) -> None:
    pg = Phase3Client.connect(db_url, max_connections=1)
    rest = Phase3Client(BASE_URL, SERVICE_KEY, anon_key=ANON_KEY, jwt_secret=JWT_SECRET)
    anon_only = Phase3Client(BASE_URL, ANON_KEY, anon_key=ANON_KEY)
    try:
        backends = {name: c._shared.backend for name, c in (("pg", pg), ("rest", rest), ("anon", anon_only))}
        assert [backends["pg"].bulk_copy, backends["rest"].bulk_copy] == [True, False]
        assert [backends["pg"].typed_rows, backends["rest"].typed_rows] == [True, True]
        assert [b.has_service_key for b in backends.values()] == [True, True, False]
        assert [backends["pg"].max_rows, backends["rest"].max_rows] == [None, 1000]
    finally:
        for client in (pg, rest, anon_only):
            client.close()


def test_the_backend_layer_imports_neither_models_nor_resources() -> None:
    # Layers run one way: client -> resources -> transport -> backends. What a backend needs of a table
    # (how its rows are typed) is passed in from above.
    for path in (SRC / "backends").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                target = "." * node.level + (node.module or "")
                assert not re.match(r"\.\.(models|resources|schema)\b", target), (path.name, target)
                assert not re.match(r"phase3_sdk\.(models|resources|schema)\b", target), (path.name, target)


def test_a_rest_backend_without_row_types_returns_json_rows_that_get_validated() -> None:
    from phase3_sdk._sync.backends.rest import RestBackend

    backend = RestBackend(
        BASE_URL, anon_key=ANON_KEY, service_role_key=None, timeout=5.0, connect_timeout=5.0
    )
    try:
        assert backend.typed_rows is False
    finally:
        backend.close()

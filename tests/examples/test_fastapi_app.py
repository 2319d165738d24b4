"""examples/fastapi_app.py through FastAPI's TestClient, on the real database.

One root client (a database connection with the JWT secret), ``as_user(bearer)`` per request through
``phase3_sdk.integrations.fastapi.CurrentUser``; SDK errors become HTTP answers.
(No ``from __future__ import annotations``: FastAPI must read the test endpoints' annotations.)
"""

import importlib.util
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any
from uuid import UUID

import jwt
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient

from phase3_sdk import AsyncPhase3Client
from phase3_sdk.identity import mint_user_token

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SECRET = "fastapi-example-jwt-secret-of-32-characters-or-more"


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # FastAPI resolves the endpoints' string annotations through it
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def api(db_url: str) -> Iterator[TestClient]:
    app = load("fastapi_app").create_app(lambda: AsyncPhase3Client.connect(db_url, jwt_secret=SECRET))
    with TestClient(app) as client:
        yield client


def bearer(user: UUID, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_user_token(user, SECRET, **claims)}"}


MEMORY = {"messages": [{"role": "user", "content": "the climbing gym was packed tonight"}], "valence": 0.4}


def test_each_request_acts_as_its_bearer(api: TestClient, make_user: Any) -> None:
    alice, bob = make_user(), make_user()
    created = api.post("/memories", json=MEMORY, headers=bearer(alice))
    assert created.status_code == 201, created.text
    memory_id = created.json()["id"]
    assert created.json()["text"] == "the climbing gym was packed tonight"

    mine = api.get("/memories", headers=bearer(alice)).json()
    assert [m["id"] for m in mine] == [memory_id]
    assert api.get("/memories", headers=bearer(bob)).json() == []  # RLS: Bob sees none of Alice's rows
    assert api.get(f"/memories/{memory_id}", headers=bearer(bob)).status_code == 404
    hits = api.get("/search", params={"q": "climbing"}, headers=bearer(alice)).json()
    assert [h["id"] for h in hits] == [memory_id]


def test_missing_forged_or_expired_tokens_are_401(api: TestClient, make_user: Any) -> None:
    alice = make_user()
    missing = api.get("/memories")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    forged = jwt.encode(
        {"sub": str(alice), "role": "authenticated", "aud": "authenticated", "exp": time.time() + 60},
        "another-secret-that-is-also-32-characters-long",
        "HS256",
    )
    refused = api.get("/memories", headers={"Authorization": f"Bearer {forged}"})
    assert refused.status_code == 401
    assert forged not in refused.text
    expired = api.get("/memories", headers=bearer(alice, expires_in=-120))
    assert expired.status_code == 401
    assert "expired" in expired.json()["detail"].lower()


def test_sdk_errors_in_an_endpoint_become_http_answers(api: TestClient, make_user: Any) -> None:
    alice = make_user()
    bad = api.post(
        "/memories",
        json={"messages": [{"role": "user", "content": "x"}], "valence": 7},
        headers=bearer(alice),
    )
    assert bad.status_code == 422  # the SDK's InvalidInputError (valence out of range) before any write
    assert "valence" in bad.text
    ghost = api.post("/memories", json=MEMORY, headers=bearer(UUID(int=7)))
    assert ghost.status_code == 422
    assert ghost.json()["field"] == "user_id"
    assert "does not exist" in ghost.json()["detail"]


def test_importing_the_integration_without_fastapi_names_the_extra() -> None:
    code = "import sys; sys.modules['fastapi'] = None; import phase3_sdk.integrations.fastapi"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last == (
        "ImportError: phase3_sdk.integrations.fastapi needs FastAPI: pip install 'phase3-sdk[fastapi]'"
    )


def test_sync_root_client_and_error_statuses(db_url: str, make_user: Any) -> None:
    from typing import Annotated

    from fastapi import Depends, FastAPI

    from phase3_sdk import Phase3Client
    from phase3_sdk.errors import RateLimitError, ServerError
    from phase3_sdk.integrations.fastapi import CurrentUser, install_error_handlers

    alice = make_user()
    with Phase3Client.connect(db_url, jwt_secret=SECRET) as root:
        app = FastAPI()
        install_error_handlers(app)
        me_dep = CurrentUser(root)

        @app.get("/me")
        def who(me: Annotated[Phase3Client, Depends(me_dep)]) -> dict[str, int]:
            return {"memories": me.conversations.count()}

        @app.get("/slow")
        def slow() -> None:
            raise RateLimitError("HTTP 429: too many requests", retry_after=2.6)

        @app.get("/broken")
        def broken() -> None:
            raise ServerError('relation "secret_table" does not exist', code="42P01")

        with TestClient(app) as api:
            assert api.get("/me", headers=bearer(alice)).json() == {"memories": 0}
            assert api.get("/me", headers={"Authorization": "Basic abc"}).status_code == 401
            limited = api.get("/slow")
            assert (limited.status_code, limited.headers["retry-after"]) == (429, "3")
            hidden = api.get("/broken")
            assert hidden.status_code == 500
            assert hidden.json() == {"detail": "internal error", "code": "42P01"}

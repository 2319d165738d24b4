"""A tool whose code is not valid JavaScript is refused at create and update time, before any write."""

from __future__ import annotations

from uuid import UUID

import pytest

from phase3_sdk.errors import InvalidInputError
from support.backends import Env


def test_create_refuses_invalid_javascript_naming_line_and_column(
    backend: Env, users: tuple[UUID, UUID]
) -> None:
    client = backend.as_user(users[0])
    before = backend.sent()
    with pytest.raises(InvalidInputError) as info:
        client.tools.create(name="broken", code="const total = 1;\nreturn { total: ;")
    err = info.value
    assert err.field == "code"
    assert "SyntaxError" in err.message
    assert "(line 2, column 17)" in err.message
    assert backend.sent() == before  # nothing reached the database
    assert client.tools.count(name="broken") == 0


def test_update_refuses_invalid_javascript_and_keeps_the_old_code(
    backend: Env, users: tuple[UUID, UUID]
) -> None:
    client = backend.as_user(users[0])
    tool = client.tools.create(name="adder", code="return params.a + params.b;")
    with pytest.raises(InvalidInputError, match=r"not valid JavaScript: SyntaxError.*\(line 1, column"):
        client.tools.update(tool.id, code="return params.a +;")
    assert client.tools.get(tool.id).code == "return params.a + params.b;"
    updated = client.tools.update(tool.id, code="return params.a * params.b;")
    assert updated.code == "return params.a * params.b;"

"""``as_user(user_id=)`` for an id with no ``auth.users`` row: the first write names the missing user."""

from __future__ import annotations

import uuid

import pytest

from phase3_sdk.errors import InvalidInputError, UserNotFoundError
from support.backends import Env

MESSAGES = [{"role": "user", "content": "hello"}]


def test_first_write_as_an_unknown_user_names_the_user(backend: Env) -> None:
    ghost = uuid.uuid4()
    client = backend.as_user(ghost)
    with pytest.raises(UserNotFoundError) as info:
        client.conversations.create(messages=MESSAGES)
    err = info.value
    assert isinstance(err, InvalidInputError)  # code catching InvalidInputError keeps working
    assert err.message == f"user {ghost} does not exist (no row in auth.users)"
    assert err.user_id == str(ghost)
    assert err.field == "user_id"
    assert err.code == "23503"
    assert "local_user" in str(err)  # the hint says how to make one
    with pytest.raises(UserNotFoundError, match=str(ghost)):
        client.tools.create(name="t", code="return 1;")


def test_service_write_for_an_unknown_user_names_the_user(backend: Env) -> None:
    ghost = uuid.uuid4()
    with pytest.raises(UserNotFoundError, match=f"user {ghost} does not exist"):
        backend.client.conversations.bulk_create([{"messages": MESSAGES}], user_id=ghost)


def test_a_known_user_still_writes(backend: Env, users: tuple[uuid.UUID, uuid.UUID]) -> None:
    memory = backend.as_user(users[0]).conversations.create(messages=MESSAGES)
    assert memory.user_id == users[0]

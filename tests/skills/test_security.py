"""Who may run and read what: private skills stay private, public ones run as the caller (both backends)."""

from __future__ import annotations

import uuid

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.errors import NotFoundError

from .conftest import MakeUser


def test_private_skill_is_invisible_and_public_skill_runs_as_the_caller(
    client: Phase3Client, make_user: MakeUser
) -> None:
    a = client.as_user(user_id=make_user())
    b = client.as_user(user_id=make_user())
    # Public names are seen by every user of the module's database (both backends' runs): make them unique.
    tag = uuid.uuid4().hex[:8]
    tool = a.tools.create(
        name=f"a-double-{tag}", code="return { result: params.x * 2 };", visibility="public"
    )
    steps = [{"stepId": "s", "toolName": f"a-double-{tag}", "inputMapping": {"x": "$.input.x"}}]
    private = a.skills.create(name=f"a-private-{tag}", steps=steps)
    public = a.skills.create(name=f"a-public-{tag}", steps=steps, visibility="public")
    a_run = a.skills.execute(private.id, {"x": 1})

    for ref in (private.id, str(private.id), f"a-private-{tag}"):
        with pytest.raises(NotFoundError):
            b.skills.execute(ref, {"x": 1})
    with pytest.raises(NotFoundError):
        b.skills.execute(private, {"x": 1})  # even handed the model: the database refuses to start it
    with pytest.raises(NotFoundError):
        b.skills.get(private.id)
    with pytest.raises(NotFoundError):
        b.skills.validate(private.id)
    with pytest.raises(NotFoundError):
        b.skill_executions.get(a_run.id)
    with pytest.raises(NotFoundError):
        b.skills.resume(a_run.id)
    with pytest.raises(NotFoundError):
        b.skills.cancel(a_run.id)
    assert b.skill_executions.count() == 0

    run = b.skills.execute(f"a-public-{tag}", {"x": 4})
    assert (run.status, run.final_output, run.user_id) == ("completed", {"result": 8}, b.user_id)
    (usage,) = b.tool_usage.list(skill_execution_id=run.id)
    assert (usage.user_id, usage.custom_tool_id) == (b.user_id, tool.id)
    with pytest.raises(NotFoundError):
        a.skill_executions.get(run.id)  # B's run is B's
    assert a.tools.get(tool.id).usage_count == 2  # counted although B cannot update A's row
    assert a.skills.get(public.id).execution_count == 1
    assert a.skills.get(private.id).execution_count == 1


def test_own_tool_wins_over_a_public_one(client: Phase3Client, make_user: MakeUser) -> None:
    a = client.as_user(user_id=make_user())
    b = client.as_user(user_id=make_user())
    a.tools.create(name="greet", code="return 'from a';", visibility="public")
    a.tools.create(name="secret", code="return 'a only';")
    assert b.tools.execute("greet").output == "from a"
    b.tools.create(name="greet", code="return 'from b';")
    assert b.tools.execute("greet").output == "from b"
    with pytest.raises(NotFoundError):
        b.tools.execute("secret")

"""A skill's happy path, persisted: the chain, its rows and counters, and single tool runs."""

from __future__ import annotations

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.errors import InvalidInput, NotFound

from .conftest import MakeUser, chain

DOUBLE = "return { result: params.x * 2 };"
ADD10 = "log('adding'); return { result: params.x + 10 };"


def test_two_step_chain_gives_the_output_and_writes_the_rows(
    client: Phase3Client, make_user: MakeUser
) -> None:
    me = client.as_user(user_id=make_user())
    double = me.tools.create(name="double", code=DOUBLE)
    add10 = me.tools.create(name="add10", code=ADD10)
    skill = me.skills.create(
        name="double-then-add",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}, "outputMapping": "$.result"},
            {"toolName": "add10", "inputMapping": {"x": "$.step1"}},
        ),
    )

    run = me.skills.execute("double-then-add", {"x": 5})

    assert run.status == "completed"
    assert run.final_output == {"result": 20}
    assert (run.steps_completed, run.total_steps) == (2, 2)
    assert [(s.step_id, s.success, s.output, s.attempts) for s in run.steps_executed] == [
        ("step1", True, 10, 1),
        ("step2", True, {"result": 20}, 1),
    ]
    assert run.execution_time_ms is not None
    assert run.execution_time_ms > 0
    assert run.finished_at is not None
    assert run.lease_owner is None
    assert run.skill_snapshot is not None
    assert run.skill_snapshot[0]["toolName"] == "double"
    assert me.skill_executions.get(run.id).status == "completed"

    usage = sorted(me.tool_usage.list(skill_execution_id=run.id), key=lambda u: u.timestamp)
    assert [(u.tool_name, u.custom_tool_id, u.status, u.input_params, u.output_result) for u in usage] == [
        ("double", double.id, "success", {"x": 5}, {"result": 10}),
        ("add10", add10.id, "success", {"x": 10}, {"result": 20}),
    ]
    assert me.tools.get(double.id).usage_count == 1
    assert me.tools.get(add10.id).usage_count == 1
    assert me.tools.get(add10.id).last_used is not None
    after = me.skills.get(skill.id)
    assert after.execution_count == 1
    assert after.last_executed is not None


def test_python_handlers_come_before_rows_and_mix_with_js(client: Phase3Client, make_user: MakeUser) -> None:
    me = client.as_user(user_id=make_user())
    me.tools.create(name="double", code="return { result: -1 };")  # shadowed by the handler

    @me.tools.handler("double")
    def double(params: dict[str, int]) -> dict[str, int]:
        return {"result": params["x"] * 2}

    @me.tools.handler("add10")
    async def add10(params: dict[str, int]) -> dict[str, int]:
        return {"result": params["x"] + 10}

    skill = me.skills.create(
        name="py-chain",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}, "outputMapping": "$.result"},
            {"toolName": "add10", "inputMapping": {"x": "$.step1"}, "outputMapping": "$.result"},
        ),
    )
    run = me.skills.execute(skill.id, {"x": 1})
    assert (run.status, run.final_output) == ("completed", 12)
    usage = list(me.tool_usage.list(skill_execution_id=run.id))
    assert {u.custom_tool_id for u in usage} == {None}
    assert me.tools.count(name="double") == 1
    assert next(iter(me.tools.list(name="double"))).usage_count == 0


def test_tools_run_logs_every_call(client: Phase3Client, make_user: MakeUser) -> None:
    me = client.as_user(user_id=make_user())
    tool = me.tools.create(name="double", code=DOUBLE)

    run = me.tools.run("double", {"x": 2})
    assert (run.status, run.output, run.error, run.custom_tool_id) == (
        "success",
        {"result": 4},
        None,
        tool.id,
    )
    assert run.execution_time_ms > 0

    logged = me.tools.run("double", {"x": "a"})  # "a" * 2 is NaN: JSON null, so a success with null
    assert (logged.status, logged.output) == ("success", {"result": None})

    @me.tools.handler("boom")
    def boom(params: dict[str, object]) -> None:
        raise RuntimeError("kaput")

    failed = me.tools.run("boom", {})
    assert (failed.status, failed.error) == ("failure", "RuntimeError: kaput")

    rows = {u.id: u for u in me.tool_usage.list()}
    assert {run.usage_id, logged.usage_id, failed.usage_id} <= rows.keys()
    assert rows[failed.usage_id].error_message == "RuntimeError: kaput"  # type: ignore[index]
    assert me.tools.get(tool.id).usage_count == 2

    with pytest.raises(NotFound):
        me.tools.run("no-such-tool", {})
    with pytest.raises(InvalidInput):
        me.tools.run("double", {"x": object()})

"""A skill's happy path, persisted: the chain, its rows and counters, and single tool runs (both backends)."""

from __future__ import annotations

from typing import Any

import pytest
import respx

from phase3_sdk import Phase3Client
from phase3_sdk.errors import InvalidInputError, NotFoundError

from .conftest import MakeUser, chain

DOUBLE = "return { result: params.x * 2 };"
ADD10 = "log('adding'); return { result: params.x + 10 };"


def rpc_calls(router: respx.MockRouter) -> list[str]:
    """The functions called through ``/rest/v1/rpc/`` so far, in order."""
    return [c.request.url.path.rsplit("/", 1)[1] for c in router.calls if "/rpc/" in c.request.url.path]


def test_two_step_chain_gives_the_output_and_writes_the_rows(
    client: Phase3Client, make_user: MakeUser, rest_router: respx.MockRouter | None
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

    before = len(rpc_calls(rest_router)) if rest_router else 0
    run = me.skills.execute("double-then-add", {"x": 5})
    if rest_router:
        # start, one checkpoint per step, finish: every engine write is one RPC.
        assert rpc_calls(rest_router)[before:] == [
            "start_skill_execution",
            "checkpoint_skill_step",
            "checkpoint_skill_step",
            "finish_skill_execution",
        ]

    assert run.status == "completed"
    assert run.final_output == {"result": 20}
    assert (run.steps_completed, run.total_steps, run.user_id) == (2, 2, me.user_id)
    assert [(s.step_id, s.success, s.output, s.attempts) for s in run.steps_executed] == [
        ("step1", True, 10, 1),
        ("step2", True, {"result": 20}, 1),
    ]
    assert run.execution_time_ms is not None
    assert run.execution_time_ms > 0
    assert run.finished_at is not None
    assert (run.lease_owner, run.lease_expires_at) == (None, None)
    assert run.skill_snapshot is not None
    assert run.skill_snapshot[0]["toolName"] == "double"
    assert run.skill_snapshot[1]["toolName"] == "add10"
    assert me.skill_executions.get(run.id) == run

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

    run = me.tools.execute("double", {"x": 2})
    assert (run.status, run.output, run.error, run.custom_tool_id) == (
        "success",
        {"result": 4},
        None,
        tool.id,
    )
    assert run.execution_time_ms > 0

    logged = me.tools.execute("double", {"x": "a"})  # "a" * 2 is NaN: JSON null, so a success with null
    assert (logged.status, logged.output) == ("success", {"result": None})

    @me.tools.handler("boom")
    def boom(params: dict[str, object]) -> None:
        raise RuntimeError("kaput")

    failed = me.tools.execute("boom", {})
    assert (failed.status, failed.error) == ("failure", "RuntimeError: kaput")

    rows = {u.id: u for u in me.tool_usage.list()}
    assert {run.usage_id, logged.usage_id, failed.usage_id} <= rows.keys()
    assert rows[failed.usage_id].error_message == "RuntimeError: kaput"  # type: ignore[index]
    assert me.tools.get(tool.id).usage_count == 2

    with pytest.raises(NotFoundError):
        me.tools.execute("no-such-tool", {})
    with pytest.raises(InvalidInputError):
        me.tools.execute("double", {"x": object()})


def test_tool_runs_are_logged_for_the_caller_and_for_the_user_the_service_role_names(
    client: Phase3Client, make_user: MakeUser
) -> None:
    me = client.as_user(user_id=make_user())
    tool = me.tools.create(name="double", code=DOUBLE)

    js = me.tools.execute("double", {"x": 2})
    assert (js.status, js.output, js.error, js.custom_tool_id) == ("success", {"result": 4}, None, tool.id)

    @me.tools.handler("triple")
    def triple(params: dict[str, int]) -> dict[str, int]:
        return {"result": params["x"] * 3}

    py = me.tools.execute("triple", {"x": 2})
    assert (py.status, py.output, py.custom_tool_id) == ("success", {"result": 6}, None)

    rows = {u.id: u for u in me.tool_usage.list()}
    assert rows.keys() == {js.usage_id, py.usage_id}
    logged_js, logged_py = rows[js.usage_id], rows[py.usage_id]  # type: ignore[index]
    assert (logged_js.tool_name, logged_js.custom_tool_id, logged_js.status) == ("double", tool.id, "success")
    assert (logged_js.input_params, logged_js.output_result, logged_js.user_id) == (
        {"x": 2},
        {"result": 4},
        me.user_id,
    )
    assert (logged_py.tool_name, logged_py.custom_tool_id, logged_py.output_result) == (
        "triple",
        None,
        {"result": 6},
    )
    after = me.tools.get(tool.id)
    assert after.usage_count == 1
    assert after.last_used is not None

    # As the service role, naming whose call it is.
    as_service: Any = client.tools.execute("double", {"x": 5}, user_id=me.user_id)
    assert as_service.output == {"result": 10}
    assert me.tool_usage.get(as_service.usage_id).user_id == me.user_id
    assert me.tools.get(tool.id).usage_count == 2

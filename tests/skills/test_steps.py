"""Step semantics: conditions, error handling, required inputs, validation and time limits (both backends)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.errors import ExecutionError, InvalidInputError

from .conftest import MakeUser, chain


@pytest.fixture
def me(client: Phase3Client, make_user: MakeUser) -> Phase3Client:
    user = client.as_user(user_id=make_user())

    @user.tools.handler("double")
    def double(params: dict[str, Any]) -> dict[str, Any]:
        return {"result": params["x"] * 2}

    @user.tools.handler("add10")
    def add10(params: dict[str, Any]) -> dict[str, Any]:
        return {"result": (params["x"] or 0) + 10}

    @user.tools.handler("fail")
    def fail(params: dict[str, Any]) -> None:
        raise ValueError("always fails")

    return user


def test_false_condition_skips_the_step_and_later_steps_can_read_it(me: Phase3Client) -> None:
    skill = me.skills.create(
        name="skip",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}},
            {"toolName": "add10", "inputMapping": {"x": "$.step1.result"}, "condition": "step1.result > 10"},
            # Reads the skipped step: it is null in the context, not a ReferenceError.
            {"toolName": "add10", "inputMapping": {"x": "$.step2.result"}, "condition": "step2 === null"},
        ),
    )
    run = me.skills.execute(skill.id, {"x": 3})
    assert run.status == "completed"
    records = run.steps_executed
    assert (records[1].skipped, records[1].success, records[1].attempts, records[1].output) == (
        True,
        True,
        0,
        None,
    )
    assert (records[2].skipped, records[2].output) == (False, {"result": 10})
    assert run.final_output == {"result": 10}
    assert me.tool_usage.count(skill_execution_id=run.id) == 2  # a skipped step calls no tool

    taken = me.skills.execute(skill.id, {"x": 30})
    assert [r.skipped for r in taken.steps_executed] == [False, False, True]
    assert taken.final_output == {"result": 70}  # the last step that ran


def test_stop_fails_the_execution_with_the_step_error(me: Phase3Client) -> None:
    skill = me.skills.create(
        name="stop",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}},
            {"toolName": "fail"},
            {"toolName": "double"},
        ),
    )
    run = me.skills.execute(skill.id, {"x": 1})
    assert run.status == "failed"
    assert run.error_message == "step 'step2' (fail) failed: ValueError: always fails"
    assert [r.step_id for r in run.steps_executed] == ["step1", "step2"]
    assert (run.steps_completed, run.total_steps) == (1, 3)
    assert run.final_output == {"result": 2}
    assert me.tool_usage.count(skill_execution_id=run.id) == 2
    assert me.skills.get(skill.id).execution_count == 1


def test_continue_records_the_failure_and_goes_on(me: Phase3Client) -> None:
    skill = me.skills.create(
        name="continue",
        steps=chain(
            {"toolName": "fail", "errorHandling": "continue"},
            {"toolName": "add10", "inputMapping": {"x": "$.step1.result"}, "condition": "step1 === null"},
        ),
    )
    run = me.skills.execute(skill.id)
    assert (run.status, run.error_message, run.final_output) == ("completed", None, {"result": 10})
    failed = run.steps_executed[0]
    assert (failed.success, failed.error, failed.attempts) == (False, "ValueError: always fails", 1)
    assert run.steps_completed == 1
    statuses = sorted(u.status for u in me.tool_usage.list(skill_execution_id=run.id))
    assert statuses == ["failure", "success"]
    failures = list(me.tool_usage.list(skill_execution_id=run.id, status="failure"))
    assert [(u.tool_name, u.error_message) for u in failures] == [("fail", "ValueError: always fails")]

    # A failed middle step: the next one reads around it, and the run's output is the last success.
    middle = me.skills.create(
        name="continue-middle",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}},
            {"toolName": "fail", "errorHandling": "continue"},
            {"toolName": "double", "inputMapping": {"x": "$.step1.result"}},
        ),
    )
    go_on = me.skills.execute(middle, {"x": 1})
    assert (go_on.status, go_on.final_output, go_on.error_message) == ("completed", {"result": 4}, None)
    assert [(r.step_id, r.success, r.error) for r in go_on.steps_executed] == [
        ("step1", True, None),
        ("step2", False, "ValueError: always fails"),
        ("step3", True, None),
    ]
    assert (go_on.steps_completed, go_on.total_steps) == (2, 3)


def test_retry_retries_with_backoff_and_logs_every_attempt(me: Phase3Client) -> None:
    calls: list[float] = []

    @me.tools.handler("flaky")
    def flaky(params: dict[str, Any]) -> dict[str, int]:
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)}")
        return {"ok": len(calls)}

    skill = me.skills.create(
        name="retry", steps=chain({"toolName": "flaky", "errorHandling": "retry", "retryAttempts": 3})
    )
    run = me.skills.execute(skill.id, retry_backoff=0.02)
    assert (run.status, run.final_output) == ("completed", {"ok": 3})
    assert run.steps_executed[0].attempts == 3
    assert calls[1] - calls[0] >= 0.01
    assert calls[2] - calls[1] >= 0.02
    usage = sorted(u.status for u in me.tool_usage.list(skill_execution_id=run.id))
    assert usage == ["failure", "failure", "success"]

    exhausted = me.skills.create(
        name="retry-exhausted",
        steps=chain({"toolName": "fail", "errorHandling": "retry", "retryAttempts": 2}),
    )
    run = me.skills.execute(exhausted.id, retry_backoff=0.0)
    assert run.status == "failed"
    assert run.steps_executed[0].attempts == 3
    assert me.tool_usage.count(skill_execution_id=run.id) == 3


def test_missing_required_input_is_rejected_before_anything_runs(me: Phase3Client) -> None:
    skill = me.skills.create(
        name="needs-x",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}},
            # A conditional step's inputs are optional: it may be the branch for an absent input.
            {"toolName": "add10", "inputMapping": {"x": "$.input.y"}, "condition": "input.y !== undefined"},
        ),
    )
    with pytest.raises(InvalidInputError) as err:
        me.skills.execute(skill.id, {"y": 1})
    assert err.value.field == "inputs"
    assert "step 'step1' inputMapping.x: $.input.x selects nothing" in err.value.message
    assert me.skill_executions.count(composite_skill_id=skill.id) == 0

    ok = me.skills.execute(skill.id, {"x": None})  # present-but-null is present
    assert ok.status == "failed"  # None * 2 raised in the handler: a step failure, not an input error
    with pytest.raises(InvalidInputError):
        me.skills.execute(skill.id, ["not", "an", "object"])  # type: ignore[arg-type]


def test_validate_reports_every_problem_including_unknown_tools(me: Phase3Client) -> None:
    me.tools.create(name="js-tool", code="return 1;")
    problems = me.skills.validate(
        [
            {"stepId": "a", "toolName": "double", "inputMapping": {"x": "$.b.result"}},
            {"stepId": "a", "toolName": "nope", "condition": "a.result >", "outputMapping": "$["},
            {"stepId": "b", "toolName": "js-tool"},
            {"toolName": "also-missing"},
        ]
    )
    text = [str(p) for p in problems]
    assert any("inputMapping.x" in t and "runs later" in t for t in text)
    assert any("duplicate stepId 'a'" in t for t in text)
    assert any("toolName: no tool named 'nope'" in t for t in text)
    assert any("toolName: no tool named 'also-missing'" in t for t in text)
    assert any(t.startswith("step 1 ('a') condition") for t in text)
    assert any("outputMapping" in t for t in text)
    assert any("stepId: is required" in t for t in text)
    assert not any("js-tool" in t or "'double'" in t for t in text)

    skill = me.skills.create(name="valid", steps=chain({"toolName": "double"}, {"toolName": "js-tool"}))
    assert me.skills.validate(skill) == []
    assert me.skills.validate("valid") == []
    me.tools.unregister("double")
    assert [p.field for p in me.skills.validate(skill.id)] == ["toolName"]
    with pytest.raises(InvalidInputError, match="do not exist"):
        me.skills.execute(skill.id)


def test_execution_timeout_cuts_the_step_short(me: Phase3Client) -> None:
    @me.tools.handler("slow")
    def slow(params: dict[str, Any]) -> int:
        time.sleep(1.0)
        return 1

    skill = me.skills.create(
        name="slow",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}},
            {"toolName": "slow"},
            {"toolName": "double"},
        ),
    )
    run = me.skills.execute(skill.id, {"x": 1}, timeout=0.3)
    assert run.status == "failed"
    assert run.error_message is not None
    assert "timed out after 0.3 s (during step 'step2')" in run.error_message
    assert [r.success for r in run.steps_executed] == [True, False]
    assert [u.status for u in me.tool_usage.list(skill_execution_id=run.id, tool_name="slow")] == ["timeout"]


def test_handler_timeout_and_disabled_skill(me: Phase3Client) -> None:
    @me.tools.handler("sleepy", timeout=0.1)
    async def sleepy(params: dict[str, Any]) -> int:
        import asyncio

        await asyncio.sleep(5)
        return 1

    run = me.tools.execute("sleepy", {})
    assert (run.status, run.error) == ("timeout", "ToolTimeout: time limit of 0.1 s exceeded")

    skill = me.skills.create(name="off", steps=chain({"toolName": "double"}), is_enabled=False)
    with pytest.raises(ExecutionError):
        me.skills.execute(skill.id)

"""The skill engine over the REST backend: every write is an RPC through the PostgREST emulator.

The same behaviour ``tests/skills`` proves on a direct connection, here with each request going through
PostgREST's protocol (``POST /rest/v1/rpc/...`` with JSON arguments, set/scalar answers, error statuses)
to the real database.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from phase3_sdk import Phase3Client
from phase3_sdk.errors import ExecutionError, LeaseLost, NotFound

from .conftest import LEASE, Env, chain, interrupted, wait_for_lease_expiry

DOUBLE = "return { result: params.x * 2 };"
ADD10 = "log('adding'); return { result: params.x + 10 };"


def rpc_calls(env_or_router: Any) -> list[str]:
    """The functions called through ``/rest/v1/rpc/`` so far, in order."""
    calls = env_or_router.calls
    return [c.request.url.path.rsplit("/", 1)[1] for c in calls if "/rpc/" in c.request.url.path]


def test_tools_run_js_and_python_over_rest(rest: Phase3Client, make_user: Any) -> None:
    me = rest.as_user(user_id=make_user())
    tool = me.tools.create(name="double", code=DOUBLE)

    js = me.tools.run("double", {"x": 2})
    assert (js.status, js.output, js.error, js.custom_tool_id) == ("success", {"result": 4}, None, tool.id)

    @me.tools.handler("triple")
    def triple(params: dict[str, int]) -> dict[str, int]:
        return {"result": params["x"] * 3}

    py = me.tools.run("triple", {"x": 2})
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
    as_service = rest.tools.run("double", {"x": 5}, user_id=me.user_id)
    assert as_service.output == {"result": 10}
    assert me.tool_usage.get(as_service.usage_id).user_id == me.user_id  # type: ignore[arg-type]
    assert me.tools.get(tool.id).usage_count == 2


def test_two_step_chain_over_rest(rest: Phase3Client, make_user: Any, router: Any) -> None:
    me = rest.as_user(user_id=make_user())
    double = me.tools.create(name="double", code=DOUBLE)
    add10 = me.tools.create(name="add10", code=ADD10)
    skill = me.skills.create(
        name="double-then-add",
        steps=chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}, "outputMapping": "$.result"},
            {"toolName": "add10", "inputMapping": {"x": "$.step1"}},
        ),
    )

    before = len(rpc_calls(router))
    run = me.skills.execute("double-then-add", {"x": 5})
    # start, one checkpoint per step, finish: every engine write is one RPC.
    assert rpc_calls(router)[before:] == [
        "start_skill_execution",
        "checkpoint_skill_step",
        "checkpoint_skill_step",
        "finish_skill_execution",
    ]

    assert (run.status, run.final_output, run.error_message) == ("completed", {"result": 20}, None)
    assert (run.steps_completed, run.total_steps, run.user_id) == (2, 2, me.user_id)
    assert [(s.step_id, s.success, s.output, s.attempts) for s in run.steps_executed] == [
        ("step1", True, 10, 1),
        ("step2", True, {"result": 20}, 1),
    ]
    assert run.execution_time_ms is not None
    assert run.execution_time_ms > 0
    assert (run.lease_owner, run.lease_expires_at) == (None, None)
    assert run.finished_at is not None
    assert run.skill_snapshot is not None
    assert run.skill_snapshot[1]["toolName"] == "add10"
    assert me.skill_executions.get(run.id) == run

    usage = sorted(me.tool_usage.list(skill_execution_id=run.id), key=lambda u: u.timestamp)
    assert [(u.tool_name, u.custom_tool_id, u.status, u.input_params, u.output_result) for u in usage] == [
        ("double", double.id, "success", {"x": 5}, {"result": 10}),
        ("add10", add10.id, "success", {"x": 10}, {"result": 20}),
    ]
    assert me.tools.get(double.id).usage_count == 1
    assert me.tools.get(add10.id).usage_count == 1
    after = me.skills.get(skill.id)
    assert after.execution_count == 1
    assert after.last_executed is not None


def test_failing_step_continue_and_stop_over_rest(rest: Phase3Client, make_user: Any) -> None:
    me = rest.as_user(user_id=make_user())

    @me.tools.handler("double")
    def double(params: dict[str, Any]) -> dict[str, Any]:
        return {"result": params["x"] * 2}

    @me.tools.handler("fail")
    def fail(params: dict[str, Any]) -> None:
        raise ValueError("always fails")

    def steps(mode: str) -> list[dict[str, Any]]:
        return chain(
            {"toolName": "double", "inputMapping": {"x": "$.input.x"}},
            {"toolName": "fail", "errorHandling": mode},
            {"toolName": "double", "inputMapping": {"x": "$.step1.result"}},
        )

    go_on = me.skills.execute(me.skills.create(name="continue", steps=steps("continue")), {"x": 1})
    assert (go_on.status, go_on.final_output, go_on.error_message) == ("completed", {"result": 4}, None)
    assert [(r.step_id, r.success, r.error) for r in go_on.steps_executed] == [
        ("step1", True, None),
        ("step2", False, "ValueError: always fails"),
        ("step3", True, None),
    ]
    assert (go_on.steps_completed, go_on.total_steps) == (2, 3)
    failures = list(me.tool_usage.list(skill_execution_id=go_on.id, status="failure"))
    assert [(u.tool_name, u.error_message) for u in failures] == [("fail", "ValueError: always fails")]

    stop = me.skills.create(name="stop", steps=steps("stop"))
    stopped = me.skills.execute(stop, {"x": 1})
    assert stopped.status == "failed"
    assert stopped.error_message == "step 'step2' (fail) failed: ValueError: always fails"
    assert [r.step_id for r in stopped.steps_executed] == ["step1", "step2"]
    assert (stopped.steps_completed, stopped.final_output) == (1, {"result": 2})
    assert me.tool_usage.count(skill_execution_id=stopped.id) == 2
    assert me.skills.get(stop.id).execution_count == 1


def test_resume_after_a_crash_over_rest(rest: Phase3Client, make_user: Any) -> None:
    me = rest.as_user(user_id=make_user())
    calls: list[str] = []
    execution_id = interrupted(me, calls)
    assert calls == ["first"]

    with pytest.raises(LeaseLost):  # the dead process's lease has not expired yet
        me.skills.resume(execution_id, lease_seconds=LEASE)
    wait_for_lease_expiry()
    done = me.skills.resume(execution_id, lease_seconds=LEASE)

    assert (done.status, done.final_output, done.steps_completed, done.total_steps) == (
        "completed",
        {"v": 3},
        3,
        3,
    )
    assert calls == ["first", "slow", "last"]  # the checkpointed step did not run again
    assert [r.step_id for r in done.steps_executed] == ["first", "slow", "last"]
    usage = list(me.tool_usage.list(skill_execution_id=execution_id))
    assert sorted(str(u.tool_name).split("-")[0] for u in usage) == ["first", "last", "slow"]  # one call each
    assert me.skills.get(done.composite_skill_id).execution_count == 1
    assert me.skills.resume(execution_id) == done  # a finished execution comes back unchanged


def test_cancel_over_rest(rest: Phase3Client, make_user: Any) -> None:
    me = rest.as_user(user_id=make_user())
    other = rest.as_user(user_id=me.user_id)  # another client of the same user

    def cancel_myself(params: dict[str, Any]) -> int:
        (running,) = other.skill_executions.list(status="running")
        assert other.skills.cancel(running.id).status == "running"  # the holder sees the flag
        return 1

    me.tools.register("cancel-me", cancel_myself)
    me.tools.register("never", lambda p: pytest.fail("ran after cancel"))
    skill = me.skills.create(
        name="cancelled",
        steps=[{"stepId": "a", "toolName": "cancel-me"}, {"stepId": "b", "toolName": "never"}],
    )
    run = me.skills.execute(skill.id)
    assert (run.status, run.error_message, run.cancel_requested) == ("cancelled", "cancelled", True)
    assert [r.step_id for r in run.steps_executed] == ["a"]
    assert me.skills.cancel(run.id).status == "cancelled"  # again: a no-op

    me.tools.register("cancel-me", lambda p: 1, replace=True)
    finished = me.skills.execute(
        me.skills.create(name="quick", steps=[{"stepId": "a", "toolName": "cancel-me"}])
    )
    with pytest.raises(ExecutionError):
        me.skills.cancel(finished.id)
    with pytest.raises(NotFound):
        me.skills.cancel(uuid.uuid4())

    # Nobody holds it any more (its process died): cancelled at once, and resuming leaves it so.
    orphan = interrupted(me, [])
    wait_for_lease_expiry()
    assert me.skills.cancel(orphan).status == "cancelled"
    assert me.skills.resume(orphan).status == "cancelled"


def test_private_skill_is_invisible_and_public_skill_runs_as_the_caller_over_rest(
    rest: Phase3Client, make_user: Any
) -> None:
    a = rest.as_user(user_id=make_user())
    b = rest.as_user(user_id=make_user())
    tool = a.tools.create(name="a-double", code=DOUBLE, visibility="public")
    steps = [{"stepId": "s", "toolName": "a-double", "inputMapping": {"x": "$.input.x"}}]
    private = a.skills.create(name="a-private", steps=steps)
    public = a.skills.create(name="a-public", steps=steps, visibility="public")
    a_run = a.skills.execute(private.id, {"x": 1})

    for ref in (private.id, str(private.id), "a-private"):
        with pytest.raises(NotFound):
            b.skills.execute(ref, {"x": 1})
    with pytest.raises(NotFound):
        b.skills.execute(private, {"x": 1})  # even handed the model: the database refuses to start it
    for read in (b.skills.get, b.skills.validate, b.skill_executions.get, b.skills.resume, b.skills.cancel):
        with pytest.raises(NotFound):
            read(private.id if read in (b.skills.get, b.skills.validate) else a_run.id)
    assert b.skill_executions.count() == 0

    run = b.skills.execute("a-public", {"x": 4})
    assert (run.status, run.final_output, run.user_id) == ("completed", {"result": 8}, b.user_id)
    (usage,) = b.tool_usage.list(skill_execution_id=run.id)
    assert (usage.user_id, usage.custom_tool_id) == (b.user_id, tool.id)
    with pytest.raises(NotFound):
        a.skill_executions.get(run.id)  # B's run is B's
    assert a.tools.get(tool.id).usage_count == 2  # counted although B cannot update A's row
    assert a.skills.get(public.id).execution_count == 1
    assert a.skills.get(private.id).execution_count == 1


def test_backend_parity_of_a_failed_start(backend: Env, make_user: Any) -> None:
    """A skill the caller cannot see is refused by ``start_skill_execution`` with the same error on both."""
    a, b = backend.as_user(make_user()), backend.as_user(make_user())
    a.tools.register("noop", lambda p: 1, replace=True)
    hidden = a.skills.create(
        name=f"hidden-{uuid.uuid4().hex[:6]}", steps=[{"stepId": "s", "toolName": "noop"}]
    )
    with pytest.raises(NotFound):
        b.skills.execute(hidden, {})
    assert b.skill_executions.count() == 0

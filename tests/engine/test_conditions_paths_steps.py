from __future__ import annotations

from typing import Any

import pytest

from phase3_sdk.engine import (
    SkillStep,
    check_condition_syntax,
    compile_path,
    evaluate_condition,
    parse_steps,
    referenced_identifiers,
    validate_steps,
)
from phase3_sdk.engine.supervisor import default_pool
from phase3_sdk.errors import InvalidInputError

CONTEXT: dict[str, Any] = {
    "input": {"mode": "fast", "count": 0, "tags": ["a", "b"], "empty": ""},
    "step1": {"result": 12},
    "step2": {"ok": True, "items": []},
}


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("step1.result > 10", True),
        ("step1.result > 12", False),
        ("input.mode === 'fast' && step2.ok", True),
        ("input.mode === 'slow' || !step2.ok", False),
        # JS truthiness, not Python's: [] and {} are truthy, 0 and '' are falsy.
        ("step2.items", True),
        ("input.count", False),
        ("input.empty", False),
        ("!input.count", True),
        # == coerces, === does not.
        ("input.count == '0'", True),
        ("input.count === '0'", False),
        ("input.tags.length === 2 && input.tags.includes('b')", True),
        ("input.missing === undefined", True),
        ("input.mode?.length > 3", True),
        ("`${step1.result}` === '12'", True),
        ("step1.result / 2 > 5 && /fa/.test(input.mode)", True),
        ("step1.result > 10 ? step2.ok : false", True),
    ],
)
def test_conditions_follow_js_semantics(expression: str, expected: bool) -> None:
    assert evaluate_condition(expression, CONTEXT) is expected


def test_empty_condition_is_true() -> None:
    assert evaluate_condition(None, {}) is True
    assert evaluate_condition("   ", {}) is True


def test_chain_of_conditions_over_a_growing_context() -> None:
    context: dict[str, Any] = {"input": {"x": 6}}
    ran = []
    steps = [
        ("step1", "input.x > 5", {"result": 12}),
        ("step2", "step1.result > 100", {"result": 0}),
        ("step3", "step1.result > 10 && !('step2' in this ?? {})", {"done": True}),
    ]
    for step_id, condition, output in steps:
        try:
            should_run = evaluate_condition(condition, context)
        except InvalidInputError:
            should_run = False
        if should_run:
            ran.append(step_id)
            context[step_id] = output
    assert ran[:1] == ["step1"]
    assert "step2" not in ran
    assert evaluate_condition("typeof step2 === 'undefined' || step2 === null", {**context, "step2": None})


def test_runtime_error_names_expression_and_error() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        evaluate_condition("step1.nested.value > 1", CONTEXT)
    assert excinfo.value.field == "condition"
    assert "step1.nested.value > 1" in excinfo.value.message
    assert "TypeError" in excinfo.value.message
    with pytest.raises(InvalidInputError, match="ReferenceError: step9 is not defined"):
        evaluate_condition("step9.ok", CONTEXT)


def test_conditions_are_expressions_only_and_bounded() -> None:
    with pytest.raises(InvalidInputError, match="not a valid JavaScript expression"):
        evaluate_condition("1); globalThis.x = 1; (1", CONTEXT)
    with pytest.raises(InvalidInputError, match="time limit"):
        evaluate_condition("(() => { for (;;) {} })()", CONTEXT)


def test_condition_bindings_are_const() -> None:
    with pytest.raises(InvalidInputError, match="TypeError"):
        evaluate_condition("(step1 = 5) > 1", CONTEXT)


def test_check_condition_syntax() -> None:
    assert check_condition_syntax("step1.result > 10") is None
    assert check_condition_syntax("") is None
    message = check_condition_syntax("step1.result >")
    assert message is not None
    assert message.startswith("SyntaxError")
    assert check_condition_syntax("if (x) { y }") is not None


def test_referenced_identifiers_skips_strings_properties_and_comments() -> None:
    expression = "input.mode === 'step3' && step2.ok /* step4 */ || `a${step5.b}c` + obj?.step7 + (x / y)"
    assert referenced_identifiers(expression) == {"input", "step2", "step5", "obj", "x", "y"}
    assert referenced_identifiers("/step6/.test(a) && typeof b === 'string'") == {"a", "b"}
    assert referenced_identifiers("[...spread]") == {"spread"}


def test_condition_is_cheap() -> None:
    """Conditions run in the sandbox pool's warm worker: after the first, evaluating one starts no process.

    What that saves (a process start per condition) is a figure for a benchmark, not an assert: a timed
    bound here failed whenever the machine was busy."""
    pool = default_pool()
    evaluate_condition("step1.result > 10", CONTEXT)
    started = pool.started
    results = {evaluate_condition("input.mode === 'fast' && step1.result > 10", CONTEXT) for _ in range(200)}
    assert results == {True}
    assert pool.started == started


# --- JSONPath -----------------------------------------------------------------------------------


def test_jsonpath_first_match_and_none() -> None:
    data = {"input": {"x": 3, "list": [{"v": 1}, {"v": 2}]}, "step1": {"result": None}}
    assert compile_path("$.input.x").first(data) == 3
    assert compile_path("$.input.list[*].v").first(data) == 1
    assert compile_path("$.input.list[-1].v").first(data) == 2
    assert compile_path("$.input.list[?@.v > 1].v").first(data) == 2
    assert compile_path("$.nothing.here").first(data) is None
    assert compile_path("$.step1.result").first(data) is None
    assert compile_path("$").first(data) is data


@pytest.mark.parametrize(
    ("expression", "root"),
    [
        ("$.step1.result", "step1"),
        ("$['input'].x", "input"),
        ('$["step-2"]', "step-2"),
        ("$", None),
        ("$.*", None),
        ("$..result", None),
        ("$[0]", None),
        ("$['a','b']", None),
    ],
)
def test_jsonpath_root_key(expression: str, root: str | None) -> None:
    assert compile_path(expression).root_key() == root


def test_jsonpath_is_cached_and_rejects_bad_syntax() -> None:
    assert compile_path("$.cached.path") is compile_path("$.cached.path")
    for bad in ["$.", "input.x", "$[", "$.a[?foo()]"]:
        with pytest.raises(InvalidInputError) as excinfo:
            compile_path(bad)
        assert bad in excinfo.value.message


# --- Steps --------------------------------------------------------------------------------------

APP_STEPS: list[dict[str, Any]] = [
    {
        "stepId": "step1",
        "toolName": "double",
        "inputMapping": {"x": "$.input.x"},
        "outputMapping": "$.result",
        "errorHandling": "retry",
        "retryAttempts": 2,
        "description": "double the input",
    },
    {
        "stepId": "step2",
        "toolName": "describe",
        "inputMapping": {"value": "$.step1"},
        "condition": "step1 > 10",
    },
]


def test_skill_step_round_trips_the_app_json() -> None:
    steps = parse_steps(APP_STEPS)
    assert [s.model_dump(by_alias=True, exclude_none=True) for s in steps[:1]] == APP_STEPS[:1]
    assert steps[1].error_handling == "stop"
    assert steps[1].retry_attempts == 3
    assert steps[1].to_json() == {**APP_STEPS[1], "errorHandling": "stop", "retryAttempts": 3}
    by_name = SkillStep(step_id="a", tool_name="t", input_mapping={"p": "$.input"})
    assert by_name.model_dump(exclude_none=True)["stepId"] == "a"


def test_unknown_keys_survive_a_round_trip() -> None:
    step = SkillStep.model_validate({"stepId": "a", "toolName": "t", "timeoutMs": 500})
    assert step.to_json()["timeoutMs"] == 500


def test_validate_steps_reports_every_problem_at_once() -> None:
    steps: list[Any] = [
        {
            "stepId": "a",
            "toolName": "double",
            "inputMapping": {"x": "$.input.x", "later": "$.b.z", "self": "$.a.q", "bad": "$."},
            "condition": "b.ok && input.x > 1",
            "errorHandling": "explode",
            "retryAttempts": 11,
        },
        {"stepId": "b", "toolName": "missing_tool", "outputMapping": "$[", "condition": "a.result >"},
        {"stepId": "b", "toolName": "double"},
        {"stepId": "input", "toolName": "double"},
        {"toolName": "double"},
        {"stepId": "c"},
        "not a step",
    ]
    problems = validate_steps(steps, tool_exists=lambda name: name == "double")
    found = {(p.step_index, p.field) for p in problems}
    assert found == {
        (0, "errorHandling"),
        (0, "retryAttempts"),
        (0, "inputMapping.later"),
        (0, "inputMapping.self"),
        (0, "inputMapping.bad"),
        (0, "condition"),
        (1, "outputMapping"),
        (1, "condition"),
        (1, "toolName"),
        (2, "stepId"),
        (3, "stepId"),
        (4, "stepId"),
        (5, "toolName"),
        (6, "step"),
    }
    assert [p.step_index for p in problems] == sorted(p.step_index for p in problems)
    by_key = {(p.step_index, p.field): p for p in problems}
    assert "runs later" in by_key[(0, "inputMapping.later")].message
    assert "its own step" in by_key[(0, "inputMapping.self")].message
    assert "duplicate" in by_key[(2, "stepId")].message
    assert "reserved" in by_key[(3, "stepId")].message
    assert by_key[(1, "toolName")].message == "no tool named 'missing_tool'"
    assert by_key[(0, "condition")].step_id == "a"


def test_tools_are_not_checked_without_a_lookup() -> None:
    assert validate_steps([{"stepId": "a", "toolName": "whatever"}]) == []


@pytest.mark.parametrize("steps", [[], "steps", {"stepId": "a"}, None])
def test_validate_steps_rejects_non_lists(steps: Any) -> None:
    problems = validate_steps(steps)
    assert len(problems) == 1
    assert problems[0].field == "steps"
    assert problems[0].step_index == -1


def test_parse_steps_raises_one_error_listing_everything() -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        parse_steps(
            [{"stepId": "input", "toolName": ""}, {"stepId": "x", "toolName": "t", "retryAttempts": -1}]
        )
    err = excinfo.value
    assert err.field == "steps"
    assert "3 problems" in err.message
    assert "step 0 ('input') stepId" in err.message
    assert "step 0 ('input') toolName" in err.message
    assert "step 1 ('x') retryAttempts" in err.message


def test_parse_steps_accepts_models_and_python_names() -> None:
    model = SkillStep(step_id="a", tool_name="t")
    parsed = parse_steps([model, {"step_id": "b", "tool_name": "t", "condition": "a.ok"}])
    assert parsed[0] is model
    assert parsed[1].condition == "a.ok"

"""The pure (no database) half of the composite-skill engine: sandbox, conditions, paths, steps."""

from phase3_sdk.engine.conditions import check_condition_syntax, evaluate_condition, referenced_identifiers
from phase3_sdk.engine.jsonpath import CompiledPath, compile_path
from phase3_sdk.engine.sandbox import (
    PROFILES,
    SandboxLimits,
    SandboxProfile,
    ToolOutcome,
    check_js_syntax,
    run_js_tool,
)
from phase3_sdk.engine.steps import RESERVED_STEP_IDS, SkillStep, StepProblem, parse_steps, validate_steps

__all__ = [
    "PROFILES",
    "RESERVED_STEP_IDS",
    "CompiledPath",
    "SandboxLimits",
    "SandboxProfile",
    "SkillStep",
    "StepProblem",
    "ToolOutcome",
    "check_condition_syntax",
    "check_js_syntax",
    "compile_path",
    "evaluate_condition",
    "parse_steps",
    "referenced_identifiers",
    "run_js_tool",
    "validate_steps",
]

"""The pure (no database) half of the composite-skill engine: sandbox, conditions, paths, steps.

Names are re-exported lazily: importing ``phase3_sdk.engine.registry`` (which every client does) must not
start QuickJS or compile JSONPath machinery for code that never runs a skill.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .conditions import check_condition_syntax, evaluate_condition, referenced_identifiers
    from .jsonpath import CompiledPath, compile_path
    from .sandbox import PROFILES, SandboxLimits, SandboxProfile, ToolOutcome
    from .steps import RESERVED_STEP_IDS, SkillStep, StepProblem, parse_steps, validate_steps
    from .supervisor import check_js_syntax, run_js_tool

_EXPORTS = {
    "check_condition_syntax": "conditions",
    "evaluate_condition": "conditions",
    "referenced_identifiers": "conditions",
    "CompiledPath": "jsonpath",
    "compile_path": "jsonpath",
    "PROFILES": "sandbox",
    "SandboxLimits": "sandbox",
    "SandboxProfile": "sandbox",
    "ToolOutcome": "sandbox",
    "check_js_syntax": "supervisor",
    "run_js_tool": "supervisor",
    "RESERVED_STEP_IDS": "steps",
    "SkillStep": "steps",
    "StepProblem": "steps",
    "parse_steps": "steps",
    "validate_steps": "steps",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


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

"""The composite-skill step model and whole-skill validation.

``composite_skills.steps`` is a JSON array of objects with camelCase keys (``stepId``,
``toolName``, ``inputMapping``, ...). :class:`SkillStep` reads and writes exactly that shape;
:func:`validate_steps` reports every problem of a whole skill at once so an author can fix them in
one pass, and :func:`parse_steps` turns them into one ``InvalidInputError``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phase3_sdk.engine.conditions import check_condition_syntax, referenced_identifiers
from phase3_sdk.engine.jsonpath import compile_path
from phase3_sdk.errors import InvalidInputError

__all__ = ["RESERVED_STEP_IDS", "SkillStep", "StepProblem", "parse_steps", "validate_steps"]

#: Step ids that would shadow the execution context's own keys.
RESERVED_STEP_IDS: Final = frozenset({"input"})

ErrorHandling = Literal["stop", "continue", "retry"]


class SkillStep(BaseModel):
    """One step of a composite skill, as stored in ``composite_skills.steps``.

    Unknown keys are kept (and written back) so that reading and re-saving a skill never drops
    data another version of the app added.
    """

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True, extra="allow")

    step_id: str = Field(alias="stepId", min_length=1)
    tool_name: str = Field(alias="toolName", min_length=1)
    input_mapping: dict[str, str] = Field(default_factory=dict, alias="inputMapping")
    output_mapping: str | None = Field(default=None, alias="outputMapping")
    condition: str | None = None
    error_handling: ErrorHandling = Field(default="stop", alias="errorHandling")
    retry_attempts: int = Field(default=3, alias="retryAttempts", ge=0, le=10)
    description: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The app's JSON shape (camelCase keys, ``None`` fields left out)."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


@dataclass(frozen=True)
class StepProblem:
    """One thing wrong with a skill's steps.

    ``step_index`` is the step's position, or ``-1`` for a problem with the list as a whole;
    ``field`` is the JSON key (``"inputMapping.x"`` for one mapping entry, ``"steps"`` for the list).
    """

    step_index: int
    step_id: str | None
    field: str
    message: str

    def __str__(self) -> str:
        if self.step_index < 0:
            return f"{self.field}: {self.message}"
        who = f"step {self.step_index}" + (f" ({self.step_id!r})" if self.step_id else "")
        return f"{who} {self.field}: {self.message}"


# Python name -> JSON key, so python-named input (allowed by populate_by_name) is checked the same.
_ALIASES: Final = {name: (info.alias or name) for name, info in SkillStep.model_fields.items()}


def _as_json_dict(step: Mapping[str, Any] | SkillStep) -> dict[str, Any]:
    if isinstance(step, SkillStep):
        return step.model_dump(by_alias=True)
    return {_ALIASES.get(key, key): value for key, value in step.items()}


def _pydantic_message(error: Any) -> str:
    if error["type"] == "missing":
        return "is required"
    message = str(error["msg"])
    return message[:1].lower() + message[1:]


def validate_steps(
    steps: Sequence[Mapping[str, Any] | SkillStep],
    *,
    tool_exists: Callable[[str], bool] | None = None,
) -> list[StepProblem]:
    """Return every problem with a skill's steps (an empty list means the skill is valid).

    Checks: the list is a non-empty list of objects; each step has a valid model (``stepId``,
    ``toolName``, ``errorHandling`` one of stop/continue/retry, ``retryAttempts`` 0..10, ...);
    step ids are unique and not reserved (``input``); every JSONPath compiles; conditions are single
    JS expressions; an input mapping or condition only reads ``input`` and *earlier* steps; and,
    when ``tool_exists`` is given, every tool exists.
    """
    problems: list[StepProblem] = []
    if isinstance(steps, (str, bytes, Mapping)) or not isinstance(steps, Sequence):
        return [StepProblem(-1, None, "steps", f"must be a list of steps, got {type(steps).__name__}")]
    if not steps:
        return [StepProblem(-1, None, "steps", "must contain at least one step")]

    items: list[dict[str, Any] | None] = []
    for index, raw in enumerate(steps):
        if isinstance(raw, (SkillStep, Mapping)):
            items.append(_as_json_dict(raw))
        else:
            items.append(None)
            problems.append(StepProblem(index, None, "step", f"must be an object, got {type(raw).__name__}"))

    def step_id_of(data: dict[str, Any] | None) -> str | None:
        value = None if data is None else data.get("stepId")
        return value if isinstance(value, str) and value else None

    # Where each id first appears: a reference to an id at or after the referring step is an error.
    first_index: dict[str, int] = {}
    for index, data in enumerate(items):
        sid = step_id_of(data)
        if sid is not None and sid not in first_index:
            first_index[sid] = index

    for index, data in enumerate(items):
        if data is not None:
            problems.extend(_check_step(index, data, step_id_of(data), first_index, tool_exists))
    # Stable sort: per-step problems in step order, each step's in the order they were checked.
    problems.sort(key=lambda found: found.step_index)
    return problems


def _check_step(
    index: int,
    data: dict[str, Any],
    sid: str | None,
    first_index: Mapping[str, int],
    tool_exists: Callable[[str], bool] | None,
) -> list[StepProblem]:
    """Every problem with one step; ``first_index`` maps each step id to where it first appears."""
    found: list[StepProblem] = []

    def problem(field: str, message: str) -> None:
        found.append(StepProblem(index, sid, field, message))

    try:
        SkillStep.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ".".join(str(part) for part in error["loc"]) or "step"
            problem(loc, _pydantic_message(error))

    if sid is not None:
        if sid in RESERVED_STEP_IDS:
            problem("stepId", f"{sid!r} is reserved for the skill's inputs")
        elif first_index[sid] != index:
            problem("stepId", f"duplicate stepId {sid!r} (first used by step {first_index[sid]})")

    def check_reference(field: str, name: str, what: str) -> None:
        if name in RESERVED_STEP_IDS or name not in first_index:
            return
        target = first_index[name]
        if target == index:
            problem(field, f"{what} refers to its own step {name!r}")
        elif target > index:
            problem(field, f"{what} refers to step {name!r}, which runs later (step {target})")

    mapping = data.get("inputMapping")
    if isinstance(mapping, Mapping):
        for param, path in mapping.items():
            field = f"inputMapping.{param}"
            if not isinstance(path, str):
                continue  # already reported by the model
            try:
                root = compile_path(path).root_key()
            except InvalidInputError as exc:
                problem(field, exc.message)
                continue
            if root is not None:
                check_reference(field, root, f"path {path!r}")

    output_mapping = data.get("outputMapping")
    if isinstance(output_mapping, str):
        try:
            compile_path(output_mapping)
        except InvalidInputError as exc:
            problem("outputMapping", exc.message)

    condition = data.get("condition")
    if isinstance(condition, str) and condition.strip():
        syntax_error = check_condition_syntax(condition)
        if syntax_error is not None:
            problem("condition", f"{condition!r} is not a valid JavaScript expression: {syntax_error}")
        else:
            for name in sorted(referenced_identifiers(condition)):
                check_reference("condition", name, f"condition {condition!r}")

    tool_name = data.get("toolName")
    if tool_exists is not None and isinstance(tool_name, str) and tool_name and not tool_exists(tool_name):
        problem("toolName", f"no tool named {tool_name!r}")
    return found


def parse_steps(steps: Sequence[Mapping[str, Any] | SkillStep]) -> list[SkillStep]:
    """Validate a skill's steps and return them as models.

    Raises one ``InvalidInputError`` (``field="steps"``) whose message lists every problem, one
    ``step N ('id') field: message`` entry each. Tool existence is not checked here (no database).
    """
    problems = validate_steps(steps)
    if problems:
        count = f"{len(problems)} problem" + ("s" if len(problems) != 1 else "")
        raise InvalidInputError(
            f"invalid skill steps ({count}): " + "; ".join(str(p) for p in problems),
            field="steps",
        )
    return [step if isinstance(step, SkillStep) else SkillStep.model_validate(step) for step in steps]

"""Evaluate a step's ``condition`` -- a JavaScript expression -- in the QuickJS sandbox.

Conditions are JavaScript because the app authors them as JavaScript (``step1.result > 10``,
``input.mode === 'fast' && step2.ok``), so truthiness, ``===`` and friends must follow JS rules
exactly; running them in the same sandbox as tools (strict profile) gives that for free and never
touches Python's ``eval``. Each top-level key of the execution context that the expression
mentions is bound as a ``const``; only those keys are copied in, which keeps a condition cheap even
when earlier steps produced large outputs.

Conditions take the same bounded path as tools: a worker process of the sandbox pool, killed at 1.5x
the strict limit. An expression can call a native built-in that QuickJS cannot interrupt
(``"a".repeat(1 << 21).indexOf(...)``), so "cheap" cannot be checked up front; the process hop costs
~0.2 ms per condition over evaluating it in-process (``benchmarks/skills.py --sandbox-only``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, Final

from phase3_sdk.errors import InvalidInputError

__all__ = ["check_condition_syntax", "evaluate_condition", "referenced_identifiers"]

#: Words that can never be a binding in strict-mode code, plus globals a condition must not shadow.
_NOT_BINDABLE: Final = frozenset(
    {
        "await",
        "break",
        "case",
        "catch",
        "class",
        "const",
        "continue",
        "debugger",
        "default",
        "delete",
        "do",
        "else",
        "enum",
        "export",
        "extends",
        "false",
        "finally",
        "for",
        "function",
        "if",
        "import",
        "in",
        "instanceof",
        "new",
        "null",
        "return",
        "super",
        "switch",
        "this",
        "throw",
        "true",
        "try",
        "typeof",
        "var",
        "void",
        "while",
        "with",
        "yield",
        "let",
        "static",
        "implements",
        "interface",
        "package",
        "private",
        "protected",
        "public",
        "arguments",
        "eval",
        "undefined",
        "NaN",
        "Infinity",
        "of",
        "get",
        "set",
        "async",
    }
)
#: Keywords excluded from :func:`referenced_identifiers` (``of``/``get``/... are valid names).
_KEYWORDS: Final = _NOT_BINDABLE - {"of", "get", "set", "async", "NaN", "Infinity", "undefined"}

_IDENT_START: Final = re.compile(r"[A-Za-z_$]")
_IDENT: Final = re.compile(r"[A-Za-z0-9_$]*")
_NUMBER: Final = re.compile(r"[0-9.][0-9A-Za-z_.]*")
# After one of these a `/` starts a regex literal, not a division.
_VALUE_END: Final = frozenset({")", "]", "}", "ident", "number", "string"})


def referenced_identifiers(expression: str) -> frozenset[str]:
    """Return the free identifiers an expression names, e.g. ``{"step1", "input"}``.

    A small tokenizer, not a parser: it skips string and template text (but not ``${...}``
    substitutions), comments, regex literals and property names after ``.``/``?.``; keywords are
    dropped. It may over-report (an object-literal key), never under-report a real reference.
    """
    found: set[str] = set()
    i = 0
    n = len(expression)
    prev: str | None = None  # kind of the previous significant token
    # One entry per open `${`: the brace depth inside that substitution.
    template_stack: list[int] = []

    def scan_template(pos: int) -> tuple[int, bool]:
        """Scan template text from pos; return (new pos, entered a substitution)."""
        while pos < n:
            ch = expression[pos]
            if ch == "\\":
                pos += 2
            elif ch == "`":
                return pos + 1, False
            elif ch == "$" and expression.startswith("${", pos):
                template_stack.append(0)
                return pos + 2, True
            else:
                pos += 1
        return pos, False

    while i < n:
        ch = expression[i]
        if ch.isspace():
            i += 1
        elif expression.startswith("//", i):
            end = expression.find("\n", i)
            i = n if end < 0 else end + 1
        elif expression.startswith("/*", i):
            end = expression.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch in "'\"":
            i += 1
            while i < n and expression[i] != ch:
                i += 2 if expression[i] == "\\" else 1
            i += 1
            prev = "string"
        elif ch == "`":
            i, entered = scan_template(i + 1)
            prev = None if entered else "string"
        elif ch == "}" and template_stack and template_stack[-1] == 0:
            template_stack.pop()
            i, entered = scan_template(i + 1)
            prev = None if entered else "string"
        elif ch == "/" and prev not in _VALUE_END:
            i += 1
            in_class = False
            while i < n and (in_class or expression[i] != "/"):
                if expression[i] == "\\":
                    i += 1
                elif expression[i] == "[":
                    in_class = True
                elif expression[i] == "]":
                    in_class = False
                i += 1
            i += 1
            i += len(_IDENT.match(expression, i).group())  # type: ignore[union-attr]  # flags
            prev = "string"
        elif _IDENT_START.match(ch):
            word = ch + _IDENT.match(expression, i + 1).group()  # type: ignore[union-attr]
            is_property = prev == "."
            i += len(word)
            if not is_property and word not in _KEYWORDS:
                found.add(word)
            prev = "ident" if word not in _KEYWORDS or word in ("this", "true", "false", "null") else None
        elif ch.isdigit() or (ch == "." and i + 1 < n and expression[i + 1].isdigit()):
            i += len(_NUMBER.match(expression, i).group())  # type: ignore[union-attr]
            prev = "number"
        elif expression.startswith("...", i):
            i += 3  # spread: what follows is a value, not a property name
            prev = None
        elif expression.startswith("?.", i) and not (i + 2 < n and expression[i + 2].isdigit()):
            i += 2
            prev = "."
        else:
            if template_stack:
                if ch == "{":
                    template_stack[-1] += 1
                elif ch == "}":
                    template_stack[-1] -= 1
            i += 1
            prev = ch
    return frozenset(found)


def _run(expression: str, body: str, values_json: str | None) -> dict[str, Any]:
    # In a worker process of the sandbox pool, like tools: a condition can call a native built-in
    # that QuickJS cannot interrupt, and the pool kills a worker that overruns the strict limit.
    # Imported here: the sandbox needs QuickJS (the 'skills' extra), which code that only reads or writes
    # skills and tools over REST does not.
    from phase3_sdk.engine.supervisor import default_pool

    return default_pool().run_condition(expression, body, values_json)


def check_condition_syntax(expression: str | None) -> str | None:
    """Return the ``SyntaxError`` message if ``expression`` is not one JS expression, else ``None``."""
    if expression is None or not expression.strip():
        return None
    result = _run(expression, '"use strict";\n', None)
    return None if result["ok"] else str(result["message"])


def evaluate_condition(expression: str | None, context: Mapping[str, Any]) -> bool:
    """Evaluate ``expression`` with JavaScript semantics over ``context``; empty/None means True.

    Raises ``InvalidInputError`` (``field="condition"``) naming the expression and the JS error when the
    expression does not compile, throws (e.g. reads a property of ``undefined``), or exceeds the
    strict sandbox limits; a context key the expression uses but the context lacks is a
    ``ReferenceError``.
    """
    if expression is None or not expression.strip():
        return True
    names = sorted(
        name for name in referenced_identifiers(expression) if name in context and name not in _NOT_BINDABLE
    )
    try:
        values_json = json.dumps({name: context[name] for name in names}, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(
            f"condition {expression!r} cannot be evaluated: the context is not JSON ({exc})",
            field="condition",
        ) from None
    # Bound as consts so a condition cannot reassign a step's output; the names are identifiers by
    # construction and the keys are JSON string literals, so nothing here can inject code.
    declarations = ", ".join(f"{name} = arguments[0][{json.dumps(name)}]" for name in names)
    body = '"use strict";\n' + (f"const {declarations};\n" if declarations else "")
    result = _run(expression, body, values_json)
    if result["ok"]:
        return bool(result["value"])
    verb = "is not a valid JavaScript expression" if result["phase"] == "syntax" else "failed"
    raise InvalidInputError(f"condition {expression!r} {verb}: {result['message']}", field="condition")

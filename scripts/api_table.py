"""Render the public API table (resource x method x parameters) from the code, into README.md.

    python scripts/api_table.py           # print the table
    python scripts/api_table.py --write   # replace the table between the README's api-table markers
    python scripts/api_table.py --check   # exit 1 if the README's table differs from the code

The rows come from ``Phase3Client``'s resource properties and the signatures of their public methods
(the asyncio client has the same ones, awaited), so the table cannot drift: tests/test_api_table.py
fails when it does. A method whose docstring starts with "Deprecated" is marked so.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import inspect
import pkgutil
import sys
from pathlib import Path

from phase3_sdk._deprecation import DEPRECATED_ARGUMENTS

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- api-table:start -->\n"
END = "<!-- api-table:end -->"


def _resource_classes() -> dict[str, type]:
    import phase3_sdk._sync.resources as package

    classes: dict[str, type] = {}
    for info in pkgutil.iter_modules(package.__path__):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        classes.update(
            (name, obj)
            for name, obj in vars(module).items()
            if inspect.isclass(obj) and obj.__module__ == module.__name__
        )
    return classes


def _resources() -> list[tuple[str, type]]:
    from phase3_sdk import Phase3Client

    classes = _resource_classes()
    found: list[tuple[str, type]] = []
    for name, attr in vars(Phase3Client).items():
        getter = attr.func if isinstance(attr, functools.cached_property) else getattr(attr, "fget", None)
        if name.startswith("_") or getter is None:
            continue
        if (inspect.getdoc(getter) or "").startswith("Deprecated"):
            continue  # an old name of a resource listed under its new one (CHANGELOG.md lists them)
        # Annotations are strings (postponed evaluation); resource classes are looked up by name.
        returned = inspect.signature(getter).return_annotation
        cls = classes.get(returned) if isinstance(returned, str) else returned
        if isinstance(cls, type) and cls.__module__.startswith("phase3_sdk._sync.resources"):
            found.append((name, cls))
    return found


def _annotation(param: inspect.Parameter) -> str:
    text = (
        param.annotation if isinstance(param.annotation, str) else inspect.formatannotation(param.annotation)
    )
    return text.replace("Unpack[", "").rstrip("]") if text.startswith("Unpack[") else text


def _parameters(method: object, deprecated: frozenset[str]) -> str:
    parts: list[str] = []
    star_written = False
    for param in list(inspect.signature(method).parameters.values())[1:]:  # type: ignore[arg-type]
        if param.kind is inspect.Parameter.VAR_KEYWORD:
            parts.append(f"**{param.name}: {_annotation(param)}")
            continue
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            parts.append(f"*{param.name}")
            star_written = True
            continue
        if param.kind is inspect.Parameter.KEYWORD_ONLY and not star_written:
            parts.append("*")
            star_written = True
        text = param.name if param.default is inspect.Parameter.empty else f"{param.name}="
        parts.append(f"{text} (deprecated)" if param.name in deprecated else text)
    return ", ".join(parts)


def rows() -> list[tuple[str, str, str]]:
    """``(resource, method, parameters)`` for every public method of every resource, in source order."""
    table: list[tuple[str, str, str]] = []
    for resource, cls in _resources():
        methods = {
            name: member
            for klass in reversed(cls.__mro__)
            if klass.__module__.startswith("phase3_sdk.")
            for name, member in vars(klass).items()
            if not name.startswith("_") and inspect.isfunction(member)
        }
        for name, member in methods.items():
            doc = inspect.getdoc(member) or ""
            label = f"{name} (deprecated)" if doc.startswith("Deprecated") else name
            deprecated = DEPRECATED_ARGUMENTS.get(name, frozenset())
            table.append((resource, label, _parameters(member, deprecated)))
    return table


def markdown() -> str:
    """The table as README markdown (``name=`` marks an optional argument, ``*`` starts keyword-only)."""
    lines = ["| resource | method | parameters |", "| --- | --- | --- |"]
    lines += [f"| `{r}` | `{m}` | `{p}` |" if p else f"| `{r}` | `{m}` | |" for r, m, p in rows()]
    return "\n".join(lines) + "\n"


def readme_table(text: str) -> str:
    """The table as it stands between the README's markers."""
    return text[text.index(START) + len(START) : text.index(END)]


def main(argv: list[str] | None = None) -> int:
    """Print, write or check the table; returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--write", action="store_true", help="rewrite README.md's table")
    group.add_argument("--check", action="store_true", help="fail if README.md's table is stale")
    args = parser.parse_args(argv)
    table = markdown()
    if args.write:
        text = README.read_text()
        start, end = text.index(START) + len(START), text.index(END)
        README.write_text(text[:start] + table + text[end:])
        return 0
    if args.check:
        if readme_table(README.read_text()) != table:
            print("README.md's API table is stale: run python scripts/api_table.py --write", file=sys.stderr)
            return 1
        return 0
    print(table, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

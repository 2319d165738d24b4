"""The analyzers form a layered package: shared helpers at the bottom, analyzers on them, the registry on top.

Read from the source (every ``import``, including those inside functions), so a cycle hidden in a
function-level import is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import phase3_sdk

PACKAGE_ROOT = Path(phase3_sdk.__file__).resolve().parent
ANALYZERS = "phase3_sdk.synthesis.analyzers"
BUILT_IN = ("emotional", "integration", "narrative", "prospective", "relational")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(package: str) -> dict[str, set[str]]:
    """{module: modules of ``phase3_sdk`` it imports}, for every module under ``package``."""
    modules = {_module_name(p): p for p in PACKAGE_ROOT.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        if not (name == package or name.startswith(package + ".")):
            continue
        here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    parts = here.split(".")[: len(here.split(".")) - (node.level - 1)]
                    target = ".".join([*parts, node.module] if node.module else parts)
                else:
                    target = node.module or ""
                for alias in node.names:
                    if f"{target}.{alias.name}" in modules:
                        found.add(f"{target}.{alias.name}")
                    elif target in modules:
                        found.add(target)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name in modules)
        graph[name] = found - {name}
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle among the modules of ``graph``, or ``None``."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in graph:
                continue
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycle_in({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle_in({"a": {"b"}, "b": set()}) is None


def test_synthesis_has_no_import_cycle() -> None:
    assert cycle_in(import_graph("phase3_sdk.synthesis")) is None


def test_base_imports_no_analyzer_and_no_analyzer_imports_another() -> None:
    graph = import_graph(ANALYZERS)
    analyzers = {f"{ANALYZERS}.{name}" for name in BUILT_IN}
    assert not graph[f"{ANALYZERS}.base"] & (analyzers | {f"{ANALYZERS}.registry"})
    for analyzer in analyzers:
        assert not graph[analyzer] & (analyzers | {f"{ANALYZERS}.registry"}), analyzer
    assert analyzers <= graph[f"{ANALYZERS}.registry"]


def test_lazy_names_are_never_shadowed_by_a_submodule_of_the_same_name() -> None:
    """A package attribute becomes the submodule once it is imported, so __getattr__ is never asked:
    ``from phase3_sdk.synthesis import recommend`` was the module when the runner had loaded first."""
    import importlib
    import pkgutil

    import phase3_sdk.synthesis as package

    lazy = set(package._EXPORTS)
    submodules = {info.name for info in pkgutil.iter_modules(package.__path__)}
    assert lazy & submodules == set()
    importlib.import_module("phase3_sdk.synthesis.recommendations")
    assert callable(package.recommend)

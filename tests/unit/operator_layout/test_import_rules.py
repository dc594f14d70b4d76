"""The operator's import rules (operator/classroom_operator/__init__.py, "Layout of the operator"):
the modules import each other without a cycle, not even one hidden behind TYPE_CHECKING, and the
pure rooms (the planners, the spec, the names) import no I/O library, directly or through
another module of the operator."""

from __future__ import annotations

import ast
from collections.abc import Mapping
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[3] / "operator" / "classroom_operator"
# Rooms and modules that decide and never talk to the API, the pods or the metrics endpoint.
PURE_ROOMS = ("spec", "engines", "rollout")
PURE_MODULES = ("names", "conditions", "settings", "indexes", "status")
IO_LIBRARIES = ("aiohttp", "kubernetes", "kopf", "prometheus_client")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path) -> set[str]:
    """Every module named by an import statement anywhere in the file (functions and
    TYPE_CHECKING blocks included), as written."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """The operator's modules: whom each imports among them, and which other top-level packages."""
    modules = {_module_name(path): path for path in PACKAGE.rglob("*.py")}
    inside: dict[str, set[str]] = {}
    outside: dict[str, set[str]] = {}
    for name, path in modules.items():
        named = _imports(path)
        inside[name] = {other for other in named if other in modules and other != name}
        outside[name] = {other.split(".")[0] for other in named
                         if not other.startswith("classroom_operator")}
    return inside, outside


def _cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle, or None when the graph is a DAG."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(module: str) -> list[str] | None:
        state[module] = 1
        path.append(module)
        for other in sorted(graph[module]):
            if state.get(other) == 1:
                return [*path[path.index(other):], other]
            if other not in state and (found := visit(other)) is not None:
                return found
        path.pop()
        state[module] = 2
        return None

    for module in sorted(graph):
        if module not in state and (found := visit(module)) is not None:
            return found
    return None


def _reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for other in graph[todo.pop()]:
            if other not in seen:
                seen.add(other)
                todo.append(other)
    return seen


def _is_pure(module: str) -> bool:
    parts = module.split(".")[1:]
    return bool(parts) and (parts[0] in PURE_ROOMS or ".".join(parts) in PURE_MODULES)


def test_the_operator_has_no_import_cycle() -> None:
    inside, _ = _graph()
    cycle = _cycle(inside)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or ())


def test_the_cycle_check_finds_a_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_every_pure_room_exists() -> None:
    inside, _ = _graph()
    for room in PURE_ROOMS + PURE_MODULES:
        assert f"classroom_operator.{room}" in inside, f"{room} moved: update this test's rooms"


@pytest.mark.parametrize("module", sorted(m for m in _graph()[0] if _is_pure(m)))
def test_pure_modules_reach_no_io_library(module: str) -> None:
    inside, outside = _graph()
    reached = _reachable(inside, module)
    offenders = sorted(f"{other} imports {library}" for other in reached
                       for library in outside[other] if library in IO_LIBRARIES)
    assert not offenders, f"{module} is a planner but reaches I/O: {offenders}"
    impure = sorted(other for other in reached if not _is_pure(other)
                    and other != "classroom_operator")
    assert not impure, f"{module} imports modules that do I/O: {impure}"

"""Which names of a library module our code uses, read from the code itself (an AST walk).

The library object is reached through `roots` (e.g. `trt`, `cudart`, or an attribute spelled
`self._trt` / `cuda.cudart`). Everything derived from it is followed: variables and `self`
attributes assigned from a library expression (module-wide by name, so a helper's parameter
named like the caller's variable is followed too), loop and comprehension targets over such
values, calls of our functions that return one, and methods of classes that subclass a library
class (ILogger.log). Every attribute read or written on a library value is a used name.

`surface()` lists what a fake module defines publicly, so a test can require that a fake offers
exactly the names the code uses, no more and no fewer.
"""

from __future__ import annotations

import ast
from pathlib import Path

# Dunders are Python's, not the library's, except the version every binding exports.
KEPT_DUNDERS = frozenset({"__version__"})


def _keep(name: str) -> bool:
    return not (name.startswith("__") and name.endswith("__")) or name in KEPT_DUNDERS


class _Walker:
    def __init__(self, roots: set[str]) -> None:
        self.roots = roots
        self.tainted: set[str] = set()  # variable names holding library values
        self.tainted_attrs: set[str] = set()  # self.<attr> holding library values
        self.returning: set[str] = set()  # functions that return library values
        self.used: set[str] = set()

    def is_library(self, node: ast.AST) -> bool:
        if isinstance(node, ast.Name):
            return node.id in self.roots or node.id in self.tainted
        if isinstance(node, ast.Attribute):
            if node.attr in self.roots:
                return True
            if isinstance(node.value, ast.Name) and node.value.id == "self":
                return node.attr in self.tainted_attrs
            return self.is_library(node.value)
        if isinstance(node, ast.Call):
            called = node.func
            name = called.attr if isinstance(called, ast.Attribute) else getattr(called, "id", "")
            return name in self.returning or self.is_library(called)
        if isinstance(node, ast.Subscript):
            return self.is_library(node.value)
        if isinstance(node, (ast.ListComp, ast.GeneratorExp)):
            return self.is_library(node.elt)
        if isinstance(node, ast.DictComp):
            return self.is_library(node.value)
        return False

    def taint(self, target: ast.AST) -> bool:
        """Mark an assignment target as holding a library value; True when it is new."""
        if isinstance(target, ast.Name) and target.id not in self.tainted:
            self.tainted.add(target.id)
            return True
        if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                and target.value.id == "self" and target.attr not in self.tainted_attrs):
            self.tainted_attrs.add(target.attr)
            return True
        if isinstance(target, (ast.Tuple, ast.List)):
            return any([self.taint(t) for t in target.elts])
        return False

    def propagate(self, tree: ast.AST) -> bool:
        changed = False
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign) and self.is_library(node.value):
                changed |= any([self.taint(t) for t in node.targets])
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
                if node.value is not None and self.is_library(node.value):
                    changed |= self.taint(node.target)
            elif isinstance(node, (ast.For, ast.comprehension)) and self.is_library(node.iter):
                changed |= self.taint(node.target)
            elif isinstance(node, ast.FunctionDef) and self.returns_library(node):
                self.returning.add(node.name)
                changed = True
        return changed

    def returns_library(self, function: ast.FunctionDef) -> bool:
        """A function not yet known to return a library value, that does."""
        return function.name not in self.returning and any(
            isinstance(r, ast.Return) and r.value is not None and self.is_library(r.value)
            for r in ast.walk(function)
        )

    def collect(self, tree: ast.AST) -> None:
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and self.is_library(node.value):
                if _keep(node.attr):
                    self.used.add(node.attr)
            elif isinstance(node, ast.ClassDef) and any(self.is_library(b) for b in node.bases):
                self.used.update(
                    item.name for item in node.body
                    if isinstance(item, ast.FunctionDef) and _keep(item.name)
                )


def used_names(sources: list[Path], roots: set[str]) -> set[str]:
    """Every library name the sources use, unqualified (a method's class cannot be known)."""
    trees = [ast.parse(path.read_text(), filename=str(path)) for path in sources]
    walker = _Walker(roots)
    while any([walker.propagate(tree) for tree in trees]):
        pass
    for tree in trees:
        walker.collect(tree)
    return walker.used


def qualified_module_names(sources: list[Path], roots: set[str]) -> set[str]:
    """Dotted names read directly off the root, e.g. `cudaError_t.cudaSuccess`, for hasattr."""
    names: set[str] = set()

    def chain(node: ast.AST) -> list[str] | None:
        if isinstance(node, ast.Attribute):
            if (isinstance(node.value, ast.Name) and node.value.id in roots) or (
                    isinstance(node.value, ast.Attribute) and node.value.attr in roots):
                return [node.attr]
            head = chain(node.value)
            return None if head is None else [*head, node.attr]
        return None

    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            found = chain(node)
            if found:
                names.add(".".join(found))
    # Keep only the longest chains: `a.b` is implied by `a.b.c`.
    return {n for n in names if not any(m.startswith(n + ".") for m in names)}


def surface(fake: Path) -> set[str]:
    """The public names a fake module defines: top-level names, names inside its classes
    (methods, properties, class attributes, nested classes) and public `self.x` attributes."""
    tree = ast.parse(fake.read_text(), filename=str(fake))
    names: set[str] = set()

    def public(name: str) -> bool:
        return not name.startswith("_") or name in KEPT_DUNDERS

    def add_targets(targets: list[ast.expr]) -> None:
        for target in targets:
            if isinstance(target, ast.Name) and public(target.id):
                names.add(target.id)

    def visit_class(cls: ast.ClassDef) -> None:
        for item in cls.body:
            if isinstance(item, (ast.FunctionDef, ast.ClassDef)) and public(item.name):
                names.add(item.name)
            if isinstance(item, ast.ClassDef):
                visit_class(item)
            elif isinstance(item, ast.Assign):
                add_targets(item.targets)
            elif isinstance(item, ast.AnnAssign):
                add_targets([item.target])
        for node in ast.walk(cls):
            if isinstance(node, (ast.Assign, ast.AnnAssign)):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                for t in targets:
                    if (isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name)
                            and t.value.id == "self" and public(t.attr)):
                        names.add(t.attr)

    for item in tree.body:
        if isinstance(item, (ast.FunctionDef, ast.ClassDef)) and public(item.name):
            names.add(item.name)
        if isinstance(item, ast.ClassDef):
            visit_class(item)
        elif isinstance(item, ast.Assign):
            add_targets(item.targets)
        elif isinstance(item, ast.AnnAssign):
            add_targets([item.target])
    return names

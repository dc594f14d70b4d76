"""The names the real TensorRT Python bindings define, read from NVIDIA's wheels without importing.

The bindings wheels (tensorrt-cu12-bindings for 10.x, tensorrt-cu13-bindings for 11.x) hold the
compiled pybind11 module `tensorrt_bindings/tensorrt.so`; it cannot be imported here (its
libraries are not installed), but every class, method, property and enum member it registers is
a C string in it. The linker merges a string into the tail of a longer one that ends the same
way (`num_errors` lives inside `get_num_errors`), so a name counts as present when an
identifier-like string equals it or ends with it. Names defined in Python (`__version__`) come
from the wheel's `__init__.py`.

Wheels are cached under ~/.cache/classroom-operator/wheels/<name>-<version>/ so only the first
run downloads them.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from functools import cache
from pathlib import Path

WHEELS = {
    "10": ("tensorrt-cu12-bindings", "10.16.1.11"),
    "11": ("tensorrt-cu13-bindings", "11.4.0.106"),
}
_IDENTIFIER = re.compile(rb"[A-Za-z_][A-Za-z0-9_]*")
_PRINTABLE = re.compile(rb"[\x20-\x7e]{3,}")


def cache_dir() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "classroom-operator" / "wheels"


def wheel(major: str) -> Path:
    """The bindings wheel of a TensorRT major, downloaded once with pip."""
    name, version = WHEELS[major]
    folder = cache_dir() / f"{name}-{version}"
    found = sorted(folder.glob("*.whl"))
    if found:
        return found[0]
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent) as tmp:
        # The .so's names do not depend on the interpreter; pin the tag so any Python fetches
        # the same file.
        result = subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
             "--only-binary=:all:", "--python-version", "3.11",
             "--platform", "manylinux_2_28_x86_64", f"{name}=={version}", "-d", tmp],
            capture_output=True, text=True, check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"pip could not download {name}=={version}:\n{result.stderr}")
        downloaded = sorted(Path(tmp).glob("*.whl"))
        if not downloaded:
            raise RuntimeError(f"pip downloaded no wheel for {name}=={version}")
        folder.mkdir(exist_ok=True)
        target = folder / downloaded[0].name
        os.replace(downloaded[0], target)
    return target


class Bindings:
    """The identifier strings of one TensorRT major's compiled module, plus its Python names."""

    def __init__(self, major: str, identifiers: frozenset[str], python_names: frozenset[str]):
        self.major = major
        self.version = WHEELS[major][1]
        self._identifiers = identifiers
        self._python_names = python_names

    def has(self, name: str) -> bool:
        if name in self._identifiers or name in self._python_names:
            return True
        return any(s.endswith(name) for s in self._identifiers)

    def missing(self, names: set[str]) -> set[str]:
        return {n for n in names if not self.has(n)}


@cache
def bindings(major: str) -> Bindings:
    with zipfile.ZipFile(wheel(major)) as archive:
        so = archive.read("tensorrt_bindings/tensorrt.so")
        init = archive.read("tensorrt_bindings/__init__.py").decode()
    identifiers = frozenset(
        s.decode() for s in _PRINTABLE.findall(so) if _IDENTIFIER.fullmatch(s)
    )
    python_names: set[str] = set()
    for node in ast.walk(ast.parse(init)):
        if isinstance(node, ast.Name):
            python_names.add(node.id)
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            python_names.add(node.name)
    return Bindings(major, identifiers, frozenset(python_names))

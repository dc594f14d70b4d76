"""The kopf indexes a reconcile pass reads, bundled by the part of the product that reads them.

kopf hands every handler all of the operator's indexes as keyword arguments, named after the
functions that fill them (handlers/); a handler takes them as `**indexes` and passes a bundle on,
so the reconcile functions take a handful of parameters and name what they read. Pure: the
indexes are plain mappings from a key to the objects kept under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

V = TypeVar("V")
Index = Mapping[Any, Iterable[V]]
ModelIndex = Mapping[Any, Iterable[Any]]


def first(index: Index[V], key: Any) -> V | None:
    return next(iter(index.get(key, ())), None)


@dataclass(frozen=True)
class RolloutIndexes:
    """The indexes one pass reads: pools, pods and assignments by (namespace, model label),
    Classrooms by namespace, nodes by name."""

    pools: ModelIndex
    pods: ModelIndex
    assignments: ModelIndex
    classrooms: ModelIndex
    nodes: ModelIndex

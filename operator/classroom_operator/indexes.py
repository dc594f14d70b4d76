"""The kopf indexes a reconcile pass reads, bundled by the part of the product that reads them.

kopf hands every handler all of the operator's indexes as keyword arguments, named after the
functions that fill them (handlers/); a handler takes them as `**indexes` and passes a bundle on,
so the reconcile functions take a handful of parameters and name what they read. Pure: the
indexes are plain mappings from a key to the objects kept under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar

from classroom_operator.engines.build_results import JobView, PodView
from classroom_operator.engines.catalogue import CatalogueEntry
from classroom_operator.engines.inventory import NodeGpu
from classroom_operator.engines.node_changes import SpecGroup
from classroom_operator.names import ModelKey
from classroom_operator.rollout.classrooms import ClassroomResource
from classroom_operator.rollout.pool_views import PoolObject, ServingPod, StoredAssignment
from classroom_operator.rollout.room_status import LiveRoom
from classroom_operator.spec.model import Placement

V = TypeVar("V")
Index = Mapping[Any, Iterable[V]]


def first(index: Index[V], key: Any) -> V | None:
    return next(iter(index.get(key, ())), None)


@dataclass(frozen=True)
class EngineIndexes:
    """The indexes of the engines' side (handlers/engines.py fills them): nodes by name, the
    catalogue, build Jobs and their pods and serving pods by fingerprint, the models using each
    fingerprint, models by placement, and one model per (placement, engine spec)."""

    nodes: Index[NodeGpu]
    catalogue: Index[CatalogueEntry]
    jobs: Index[JobView]
    pods: Index[PodView]
    users: Index[ModelKey]
    serving: Index[str]
    placements: Mapping[Placement, Iterable[ModelKey]]
    specs: Index[SpecGroup]

    # Field -> the name kopf passes the index under (the function that fills it).
    INDEXES: ClassVar[dict[str, str]] = {
        "nodes": "gpu_nodes", "catalogue": "engine_catalogue", "jobs": "build_jobs",
        "pods": "build_pods", "users": "engine_users", "serving": "serving_pods",
        "placements": "model_placements", "specs": "engine_specs"}

    @classmethod
    def of(cls, kwargs: Mapping[str, Any]) -> Self:
        """The bundle from a handler's keyword arguments."""
        return cls(**{name: kwargs[index] for name, index in cls.INDEXES.items()})


@dataclass(frozen=True)
class RolloutIndexes:
    """The indexes one rollout pass reads (handlers/rollout.py fills them): pools, pods and
    assignments by (namespace, model label), Classrooms (spec and status) and models by
    namespace, nodes by name."""

    pools: Index[PoolObject]
    pods: Index[ServingPod]
    assignments: Index[StoredAssignment]
    classrooms: Index[ClassroomResource]
    nodes: Index[NodeGpu]
    room_statuses: Index[LiveRoom]  # Classrooms' status by namespace
    models: Index[ModelKey]  # ClassroomModels by namespace

    INDEXES: ClassVar[dict[str, str]] = {
        "pools": "inference_pools", "pods": "inference_pods",
        "assignments": "pool_assignments", "classrooms": "namespace_classrooms",
        "nodes": "gpu_nodes", "room_statuses": "classroom_statuses",
        "models": "models_by_namespace"}

    @classmethod
    def of(cls, kwargs: Mapping[str, Any]) -> Self:
        """The bundle from a handler's keyword arguments."""
        return cls(**{name: kwargs[index] for name, index in cls.INDEXES.items()})

"""kopf indexes and wake-ups for the inference rollout.

The rollout reads the model's pools (StatefulSets), their pods and their assignment ConfigMaps,
keyed by (namespace, model label), and the namespace's Classrooms; a model's engine loop
reconciles when one of its pods or pools changes, or a Classroom of its namespace does (its
selector may pick it, or have picked it). Handlers are registered by `register_rollout` into the
caller's registry, so importing this module changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import kopf

from classroom_operator.controller import OperatorState
from classroom_operator.names import (
    CLASSROOMS,
    COMPONENT_LABEL,
    INFERENCE_COMPONENT,
    MODEL_LABEL,
    MODELS,
    ModelKey,
    model_label,
)
from classroom_operator.rollout.classrooms import ClassroomResource, classroom_from_resource
from classroom_operator.rollout.pool_views import (
    PoolObject,
    ServingPod,
    StoredAssignment,
    pool_object,
    serving_pod,
    stored_assignment,
)
from classroom_operator.rollout.room_status import LiveRoom

INFERENCE: dict[str, Any] = {COMPONENT_LABEL: INFERENCE_COMPONENT, MODEL_LABEL: kopf.PRESENT}
# Server-side selectors for the watches this module adds (the operator's startup sets them).
INFERENCE_SELECTOR = f"{COMPONENT_LABEL}={INFERENCE_COMPONENT}"

PoolKey = tuple[str, str]  # (namespace, model label)


async def inference_pools(meta: kopf.Meta, spec: kopf.Spec,
                          **_: Any) -> dict[PoolKey, PoolObject]:
    pool = pool_object(meta, spec)
    return {(pool.namespace, pool.model): pool}


async def inference_pods(meta: kopf.Meta, status: kopf.Status,
                         **_: Any) -> dict[PoolKey, ServingPod]:
    pod = serving_pod(meta, status)
    return {(pod.namespace, pod.model): pod}


async def pool_assignments(meta: kopf.Meta, body: kopf.Body,
                           **_: Any) -> dict[PoolKey, StoredAssignment]:
    stored = stored_assignment(meta, body.get("data") or {})
    return {(stored.namespace, stored.model): stored}


async def namespace_classrooms(namespace: str | None, name: str, labels: kopf.Labels,
                               spec: kopf.Spec, **_: Any) -> dict[str, ClassroomResource]:
    return {str(namespace): classroom_from_resource(name, dict(labels), spec)}


async def classroom_statuses(namespace: str | None, name: str, meta: kopf.Meta,
                             status: kopf.Status, **_: Any) -> dict[str, LiveRoom]:
    return {str(namespace): LiveRoom(name, int(meta.get("generation") or 0), dict(status))}


async def models_by_label(namespace: str | None, name: str,
                          **_: Any) -> dict[PoolKey, ModelKey]:
    return {(str(namespace), model_label(name)): (str(namespace), name)}


async def models_by_namespace(namespace: str | None, name: str,
                              **_: Any) -> dict[str, ModelKey]:
    return {str(namespace): (str(namespace), name)}


def _state(memo: kopf.Memo) -> OperatorState:
    state: OperatorState = memo.state
    return state


async def pool_changed(namespace: str | None, labels: kopf.Labels, memo: kopf.Memo,
                       models_by_label: kopf.Index[PoolKey, ModelKey], **_: Any) -> None:
    _state(memo).wakeups.wake(models_by_label.get((str(namespace), labels[MODEL_LABEL]), ()))


async def classroom_changed(namespace: str | None, name: str, type: str | None,
                            labels: kopf.Labels, spec: kopf.Spec, memo: kopf.Memo,
                            models_by_namespace: kopf.Index[str, ModelKey], **_: Any) -> None:
    """A room's spec or labels changed, or it came or went: its namespace's models look again.
    The operator's own writes of its status change neither, so they wake nobody."""
    state = _state(memo)
    key = (str(namespace), name)
    seen = None if type == "DELETED" else json.dumps([dict(labels), dict(spec)], sort_keys=True)
    if seen is not None and state.classrooms_seen.get(key) == seen:
        return
    if seen is None:
        state.classrooms_seen.pop(key, None)
    else:
        state.classrooms_seen[key] = seen
    state.wakeups.wake(models_by_namespace.get(str(namespace), ()))


def register_rollout(registry: kopf.OperatorRegistry) -> None:
    kopf.index("apps/v1", "statefulsets", labels=INFERENCE, registry=registry)(inference_pools)
    kopf.index("v1", "pods", labels=INFERENCE, registry=registry)(inference_pods)
    kopf.index("v1", "configmaps", labels=INFERENCE, registry=registry)(pool_assignments)
    kopf.index(*CLASSROOMS, registry=registry)(namespace_classrooms)
    kopf.index(*CLASSROOMS, registry=registry)(classroom_statuses)
    kopf.index(*MODELS, registry=registry)(models_by_label)
    kopf.index(*MODELS, registry=registry)(models_by_namespace)
    # kopf passes indexes as keyword arguments its callback protocols do not declare.
    woken: Any = pool_changed
    kopf.on.event("apps/v1", "statefulsets", labels=INFERENCE, registry=registry,
                  id="inference_pool_changed")(woken)
    kopf.on.event("v1", "pods", labels=INFERENCE, registry=registry,
                  id="inference_pod_changed")(woken)
    by_namespace: Any = classroom_changed
    kopf.on.event(*CLASSROOMS, registry=registry, id="classroom_changed")(by_namespace)


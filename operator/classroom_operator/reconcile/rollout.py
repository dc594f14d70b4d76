"""One rollout pass of a ClassroomModel: gather its pools from kopf's indexes, ask its pods for
their /v1/status, plan (rollout/planning.py, pure), write, and hand back the status it gives.

Writes are idempotent and ordered so that a restart between any two converges: the pseudonym
Secret before any pod needs it; each assignment ConfigMap before its StatefulSet (pods mount it),
the pools taking rooms before the pools giving them up; removals last, and only of pools whose
pods serve nothing. Names come from the model and the fingerprint, so nothing is created twice.
Each pass also sets the model's rollout figures in the operator's metrics.

RBAC these calls need (the chart grants them; see docs/contracts.md): statefulsets.apps,
services and configmaps create/patch/delete; secrets create; reads come from the watches
(statefulsets, pods, configmaps, classrooms get/list/watch).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import kopf

from classroom_operator.controller import OperatorState
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.indexes import RolloutIndexes
from classroom_operator.kube import Kube
from classroom_operator.metrics import RolloutFigures
from classroom_operator.pod_client import fetch_reports
from classroom_operator.rollout.capacity import gpus_by_class
from classroom_operator.rollout.classrooms import ClassroomResource, select_rooms
from classroom_operator.rollout.planning import Cluster, Rollout, plan_rollout
from classroom_operator.rollout.pool_views import (
    HANDOVERS_ANNOTATION,
    PoolObject,
    ServingPod,
    StoredAssignment,
)
from classroom_operator.rollout.pools import (
    ASSIGNMENT_FILE,
    PORT,
    PSEUDONYM_SECRET,
    ModelRef,
    model_label,
    pseudonym_secret,
)
from classroom_operator.spec import ModelSpec
from classroom_operator.status import RolloutStatus


def _cluster(label: tuple[str, str], indexes: RolloutIndexes, view: InventoryView,
             reports: Mapping[str, Any]) -> Cluster:
    pools: dict[str, PoolObject] = {p.name: p for p in indexes.pools.get(label, ())}
    assignments: dict[str, StoredAssignment] = {
        a.pool: a for a in indexes.assignments.get(label, ())}
    nodes = [node for store in indexes.nodes.values() for node in store]
    return Cluster(pools=pools, pods=tuple(indexes.pods.get(label, ())),
                   assignments=assignments, reports=reports, gpus=gpus_by_class(view, nodes))


async def _write(kube: Kube, rollout: Rollout, pods: Sequence[ServingPod],
                 body: kopf.Body) -> None:
    namespace = rollout.namespace
    missing_key = any(PSEUDONYM_SECRET in pod.waiting for pod in pods)
    if rollout.statefulsets or missing_key:
        # Created once with a random key and never rewritten: student ids must stay stable.
        await kube.create_secret(namespace, pseudonym_secret(namespace, secrets.token_urlsafe(32)))
    for write in rollout.configmaps:
        if write.create is not None and await kube.create_configmap(namespace, write.create):
            continue
        # The file and its hand-over records change in one write, so they always agree.
        await kube.patch_configmap(namespace, write.name, {
            "metadata": {"annotations": {HANDOVERS_ANNOTATION: write.handovers or None}},
            "data": {ASSIGNMENT_FILE: write.text}})
    for service in rollout.services:
        await kube.create_service(namespace, service)
    for statefulset in rollout.statefulsets:
        if await kube.create_statefulset(namespace, statefulset):
            kopf.event(body, type="Normal", reason="PoolCreated",
                       message=f"inference pool {statefulset['metadata']['name']} created with "
                               f"{statefulset['spec']['replicas']} pods")
        else:
            await kube.patch_statefulset(namespace, statefulset)
    if rollout.moved:
        moved = list(rollout.moved)
        kopf.event(body, type="Normal", reason="ClassroomsMoved",
                   message=f"{len(moved)} classrooms handed over to their new pods: "
                           f"{', '.join(moved[:5])}" + (" and more" if len(moved) > 5 else ""))
    for name in rollout.remove:
        await kube.delete_statefulset(namespace, name)
        await kube.delete_service(namespace, name)
        await kube.delete_configmap(namespace, name)
        kopf.event(body, type="Normal", reason="PoolRemoved",
                   message=f"inference pool {name} removed: its classrooms are served by the "
                           "new pods")


@dataclass(frozen=True)
class ModelPass:
    """What a reconcile pass knows of the model when it rolls out: which model at which
    generation, its spec, its engines as they stand after the pass's writes, and the GPU classes
    of its nodes."""

    model: ModelRef
    generation: int
    spec: ModelSpec
    records: Sequence[EngineRecord]
    view: InventoryView


async def roll_out(state: OperatorState, target: ModelPass, body: kopf.Body,
                   indexes: RolloutIndexes) -> RolloutStatus:
    """One pass: the model's pools a step closer to wanted; the status that describes them."""
    model, spec, view = target.model, target.spec, target.view
    label = (model.namespace, model_label(model.name))
    pods: tuple[ServingPod, ...] = tuple(indexes.pods.get(label, ()))
    token = await state.pods.token_for(state.kube, model.namespace)
    reports = await fetch_reports(state.pods.get(), {p.name: p.ip for p in pods if p.ip}, PORT,
                                  token=token)
    resources: list[ClassroomResource] = list(indexes.classrooms.get(model.namespace, ()))
    selection = select_rooms(spec, resources)
    rollout = plan_rollout(model, generation=target.generation, spec=spec,
                           pod_settings=spec.pod_settings, records=target.records, view=view,
                           selection=selection, cluster=_cluster(label, indexes, view, reports),
                           settings=state.settings, now=time.time())
    await _write(state.kube, rollout, pods, body)
    status = rollout.status
    state.metrics.record_rollout(model.namespace, model.name, RolloutFigures(
        pools=len(status["pools"]), pods_wanted=status["podsWanted"],
        pods_ready=status["podsReady"], streams_assigned=status["streams"]["assigned"],
        streams_healthy=status["streams"]["healthy"],
        handovers=len({h.room for h in rollout.handovers}),
        moves=tuple(rollout.moved.items())))
    return RolloutStatus(
        fields=status,
        conditions=rollout.conditions,
        summary={"pods": f"{status['podsReady']}/{status['podsWanted']}",
                 "streams": f"{status['streams']['healthy']}/{status['streams']['assigned']}"},
        wake_after=rollout.wake_after,
    )

"""One rollout pass of a ClassroomModel: gather its pools from kopf's indexes, ask its pods for
their /v1/status, plan (rollout/planning.py, pure), write, and hand back the status it gives.

Writes are idempotent and ordered so that a restart between any two converges: the pseudonym
Secret before any pod needs it; each assignment ConfigMap before its StatefulSet (pods mount it),
the pools taking rooms before the pools giving them up; removals last, and only of pools whose
pods serve nothing. Names come from the model and the fingerprint, so nothing is created twice.
Each pass also sets the model's rollout figures in the operator's metrics.

An old pool that gives a GPU up for its model's new engine is patched after the ConfigMaps
(its record, and its replicas where its classrooms cannot move within it), with a GpuYielded
Event that states the cost.

Secrets are read by name with every pass: the camera logins the model's streams name and the
sink's Secret (for WebhookSigned). The operator may not list or watch Secrets (a watch would
hold every Secret of the cluster in its memory), so a changed login reaches the pods at the
model's next pass: within CLASSROOM_RESYNC_SECONDS (60 s by default), at once when the model or
its rooms change, and every 2 s while pods start or rooms move. Each pool's own login Secret is
then written before its ConfigMap and StatefulSet, and the pods re-read the file (the kubelet
refreshes a mounted Secret within about a minute).

RBAC these calls need (the chart grants them; see docs/contracts.md): statefulsets.apps,
services and configmaps create/patch/delete; secrets get/create/patch/delete; reads of the rest
come from the watches (statefulsets, pods, configmaps, classrooms get/list/watch).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import kopf

from classroom_operator.conditions import Condition
from classroom_operator.controller import OperatorState
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.indexes import RolloutIndexes
from classroom_operator.kube import Kube, KubeError, WriteRefusedError, writing
from classroom_operator.metrics import RolloutFigures
from classroom_operator.names import GPU_YIELD_ANNOTATION
from classroom_operator.pod_client import fetch_reports
from classroom_operator.rollout.capacity import gpus_by_class
from classroom_operator.rollout.classrooms import ClassroomResource, Room, select_rooms
from classroom_operator.rollout.compliance import SecretLookup
from classroom_operator.rollout.credentials import LoginLookup, login_from_secret, secrets_named
from classroom_operator.rollout.planning import Cluster, Rollout, SecretsRead, plan_rollout
from classroom_operator.rollout.pod_reports import PodReport
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
    credentials_secret_name,
    model_label,
    pseudonym_secret,
)
from classroom_operator.rollout.room_status import changed_rooms
from classroom_operator.rollout.sink_health import failing_since, sink_health
from classroom_operator.spec import ModelSpec
from classroom_operator.status import RefusedWrite, RolloutStatus

# Classroom status patches in flight at once, per model pass.
ROOM_WRITES = 16


def _cluster(label: tuple[str, str], indexes: RolloutIndexes, view: InventoryView,
             reports: Mapping[str, Any]) -> Cluster:
    pools: dict[str, PoolObject] = {p.name: p for p in indexes.pools.get(label, ())}
    assignments: dict[str, StoredAssignment] = {
        a.pool: a for a in indexes.assignments.get(label, ())}
    nodes = [node for store in indexes.nodes.values() for node in store]
    return Cluster(pools=pools, pods=tuple(indexes.pods.get(label, ())),
                   assignments=assignments, reports=reports, gpus=gpus_by_class(view, nodes))


# Secrets read at once by one pass; a district's rooms may name hundreds.
SECRET_READS = 16
# Conditions whose turn to one of these reasons is also told as a Warning Event.
WARNINGS = {"CameraCredentials": {"CredentialsMissing"},
            "EmotionPolicy": {"EmotionDropped", "EmotionOnlyModel"},
            "WebhookSigned": {"Unsigned", "SigningKeyTooShort", "SinkSecretMissing"}}


async def _read(kube: Kube, namespace: str, name: str) -> SecretLookup:
    try:
        return await kube.read_secret(namespace, name)
    except KubeError as error:  # e.g. forbidden: told in the condition, the pass goes on
        return str(error)


async def _read_secrets(kube: Kube, namespace: str, logins: Iterable[str],
                        sink: str | None) -> SecretsRead:
    gate = asyncio.Semaphore(SECRET_READS)

    async def read(name: str) -> SecretLookup:
        async with gate:
            return await _read(kube, namespace, name)

    names = list(logins)
    found = await asyncio.gather(*(read(name) for name in names))
    lookups: dict[str, LoginLookup] = {}
    for name, data in zip(names, found, strict=True):
        lookups[name] = f"Secret {name} could not be read: {data}" if isinstance(data, str) \
            else login_from_secret(name, data)
    return SecretsRead(logins=lookups,
                       sink=await read(sink) if sink is not None else None)


def _warn(body: kopf.Body, conditions: Sequence[Condition]) -> None:
    """A Warning Event when a condition turns to a reason someone should act on."""
    before = {c.get("type"): c.get("reason")
              for c in (body.get("status") or {}).get("conditions") or []}
    for condition in conditions:
        if condition.reason in WARNINGS.get(condition.type, ()) \
                and before.get(condition.type) != condition.reason:
            kopf.event(body, type="Warning", reason=condition.reason, message=condition.message)


async def _write(state: OperatorState, rollout: Rollout, pods: Sequence[ServingPod],
                 body: kopf.Body) -> None:
    """The rollout's writes in their safe order; a refused one stops the rest of the pass
    (raises WriteRefusedError), so no later write runs ahead of one it depends on."""
    kube = state.kube
    namespace = rollout.namespace
    missing_key = any(PSEUDONYM_SECRET in pod.waiting for pod in pods)
    if rollout.statefulsets or missing_key:
        # Created once with a random key and never rewritten: student ids must stay stable.
        with writing(f"Secret {namespace}/{PSEUDONYM_SECRET}"):
            await kube.create_secret(namespace,
                                     pseudonym_secret(namespace, secrets.token_urlsafe(32)))
    for login in rollout.secrets:
        with writing(f"Secret {namespace}/{login.name}"):
            await kube.write_secret(namespace, login.name, dict(login.data), login.create)
    for write in rollout.configmaps:
        with writing(f"ConfigMap {namespace}/{write.name}"):
            if write.create is not None and await kube.create_configmap(namespace, write.create):
                continue
            # The file and its hand-over records change in one write, so they always agree.
            await kube.patch_configmap(namespace, write.name, {
                "metadata": {"annotations": {HANDOVERS_ANNOTATION: write.handovers or None}},
                "data": {ASSIGNMENT_FILE: write.text}})
    for service in rollout.services:
        with writing(f"Service {namespace}/{service['metadata']['name']}"):
            await kube.create_service(namespace, service)
    for statefulset in rollout.statefulsets:
        name = statefulset["metadata"]["name"]
        with writing(f"StatefulSet {namespace}/{name}"):
            if await kube.create_statefulset(namespace, statefulset):
                kopf.event(body, type="Normal", reason="PoolCreated",
                           message=f"inference pool {name} created with "
                                   f"{statefulset['spec']['replicas']} pods")
            else:
                await kube.patch_statefulset(namespace, statefulset)
    for change in rollout.pool_patches:
        # A stale view would give the same GPU up twice; its record is the claim.
        claim = f"gpu-yield/{namespace}/{change.name}"
        note = change.patch.get("metadata", {}).get("annotations", {}).get(GPU_YIELD_ANNOTATION)
        if note is not None and not state.recent.claim(claim, _without_time(note)):
            continue
        try:
            with writing(f"StatefulSet {namespace}/{change.name}"):
                written = await kube.patch_statefulset(
                    namespace, {**change.patch, "metadata": {
                        "name": change.name, **change.patch.get("metadata", {})}})
        except BaseException:
            if note is not None:
                state.recent.drop(claim)
            raise
        if written and change.event:
            kopf.event(body, type="Warning", reason="GpuYielded", message=change.event)
    if rollout.moved:
        moved = list(rollout.moved)
        kopf.event(body, type="Normal", reason="ClassroomsMoved",
                   message=f"{len(moved)} classrooms handed over to their new pods: "
                           f"{', '.join(moved[:5])}" + (" and more" if len(moved) > 5 else ""))
    for name in rollout.remove:
        with writing(f"inference pool {namespace}/{name}"):
            await kube.delete_statefulset(namespace, name)
            await kube.delete_service(namespace, name)
            await kube.delete_configmap(namespace, name)
            await kube.delete_secret(namespace, credentials_secret_name(name))
        kopf.event(body, type="Normal", reason="PoolRemoved",
                   message=f"inference pool {name} removed: its classrooms are served by the "
                           "new pods")


def _without_time(record: str) -> str:
    """A yield record less its time: the same GPU given up, whenever a pass decided it."""
    try:
        document = json.loads(record)
    except ValueError:
        return record
    return json.dumps({**document, "at": None, "reason": None}, sort_keys=True)


async def _write_rooms(kube: Kube, model: ModelRef, rollout: Rollout,
                       reports: Mapping[str, PodReport | str], indexes: RolloutIndexes,
                       selected: Sequence[Room]) -> tuple[RefusedWrite, ...]:
    """Each selected Classroom's status, written only where it changed (a few at a time)."""
    namespace = model.namespace
    live = {room.name: room for room in indexes.room_statuses.get(namespace, ())}
    if not live:  # no Classroom here to write (a thousand models would each walk the others)
        return ()
    leaving: dict[str, list[str]] = {}
    for handover in rollout.handovers:
        leaving.setdefault(handover.room, []).append(handover.source.name)
    patches = changed_rooms(
        f"{namespace}/{model.name}", selected, live,
        assigned=rollout.assigned, leaving=leaving, reports=reports,
        models=(f"{ns}/{name}" for ns, name in indexes.models.get(namespace, ())),
        now=datetime.now(UTC))
    gate = asyncio.Semaphore(ROOM_WRITES)

    async def one(name: str, patch: dict[str, Any]) -> RefusedWrite | None:
        async with gate:
            try:
                with writing(f"status of Classroom {namespace}/{name}"):
                    await kube.patch_classroom_status(namespace, name, patch)
            except WriteRefusedError as error:
                return error.refused
            return None

    results = await asyncio.gather(*(one(name, patch) for name, patch in patches.items()))
    return tuple(r for r in results if r is not None)


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
                   indexes: RolloutIndexes, *, hold_writes: bool = False) -> RolloutStatus:
    """One pass: the model's pools a step closer to wanted; the status that describes them.
    With `hold_writes` (writes refused moments ago, controller.Refusals) it only looks."""
    model, spec, view = target.model, target.spec, target.view
    label = (model.namespace, model_label(model.name))
    pods: tuple[ServingPod, ...] = tuple(indexes.pods.get(label, ()))
    token = await state.pods.token_for(state.kube, model.namespace)
    reports = await fetch_reports(state.pods.get(), {p.name: p.ip for p in pods if p.ip}, PORT,
                                  token=token)
    resources: list[ClassroomResource] = list(indexes.classrooms.get(model.namespace, ()))
    selection = select_rooms(spec, resources)
    signing = spec.pod_settings.sink.signing
    found = await _read_secrets(state.kube, model.namespace, secrets_named(selection.rooms),
                                signing.name if signing is not None else None)
    rollout = plan_rollout(model, generation=target.generation, spec=spec,
                           pod_settings=spec.pod_settings, records=target.records, view=view,
                           selection=selection, cluster=_cluster(label, indexes, view, reports),
                           settings=state.settings, now=time.time(), secrets=found)
    refused: tuple[RefusedWrite, ...] = ()
    if not hold_writes:
        try:
            await _write(state, rollout, pods, body)
        except WriteRefusedError as error:
            refused = (error.refused,)
        refused += await _write_rooms(state.kube, model, rollout, reports, indexes,
                                      selection.rooms if spec.classroom_selector is not None
                                      else ())
    _warn(body, rollout.conditions)
    status = rollout.status
    state.metrics.record_rollout(model.namespace, model.name, RolloutFigures(
        pools=len(status["pools"]), pods_wanted=status["podsWanted"],
        pods_ready=status["podsReady"], streams_assigned=status["streams"]["assigned"],
        streams_healthy=status["streams"]["healthy"],
        handovers=len({h.room for h in rollout.handovers}),
        moves=tuple(rollout.moved.items())))
    now = time.time()
    since = failing_since(reports, state.sinks_failing.get((model.namespace, model.name), {}),
                          now)
    state.sinks_failing[(model.namespace, model.name)] = since
    sink, sink_condition = sink_health(reports, since, now)
    return RolloutStatus(
        fields={**status, "sink": sink},
        conditions=(*rollout.conditions, sink_condition),
        summary={"pods": f"{status['podsReady']}/{status['podsWanted']}",
                 "streams": f"{status['streams']['healthy']}/{status['streams']['assigned']}"},
        wake_after=rollout.wake_after,
        refused=refused,
    )

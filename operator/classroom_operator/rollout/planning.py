"""One model's inference rollout, decided from what the indexes show (pure).

Which pools are wanted: one per GPU class of the model's nodes with a Ready engine. A class whose
engine is not Ready yet (a spec change or a driver upgrade is being built and validated) keeps
the pool that served its GPUs before, at its size, until the new pool can take over; that old
pool's rooms then follow the new pool of the same GPUs (docs/contracts.md names classes
`<product>-sm<cc>-drv<driver>`, so the same GPUs are the same name without the driver). From
there `assignment.plan` decides rooms, hand-overs, sizes and removals; this module turns its
plan into the objects to write, in a safe order, and into status.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from classroom_operator.conditions import Condition
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.rollout.assignment import (
    Handover,
    Observed,
    PodRef,
    PodState,
    PoolSize,
    crops_per_pod,
    plan,
    pod_limit,
    pod_ref,
)
from classroom_operator.rollout.classrooms import Selection
from classroom_operator.rollout.condition import rolled_out
from classroom_operator.rollout.pod_reports import HEALTHY, PodReport, PoolFacts, summarize
from classroom_operator.rollout.pool_views import (
    HANDOVERS_ANNOTATION,
    SPEC_HASH_ANNOTATION,
    HandoverRecord,
    PoolObject,
    ServingPod,
    StoredAssignment,
    handovers_text,
)
from classroom_operator.rollout.pools import (
    ModelRef,
    Pool,
    assignment_configmap,
    assignment_document,
    assignment_text,
    headless_service,
    statefulset,
)
from classroom_operator.settings import Settings
from classroom_operator.spec.model import ModelSpec
from classroom_operator.spec.pod_settings import PodSettings

# A ConfigMap holds at most 1 MiB; leave room for its metadata.
ASSIGNMENT_LIMIT = 1_000_000
# While rooms move or pods start, look again this soon: pods report by HTTP, not by event.
TRANSITION_WAKE_SECONDS = 2.0


def hardware(gpu_class: str) -> str:
    """The GPUs of a class, whatever their driver."""
    return re.sub(r"-drv\d+$", "", gpu_class)


@dataclass(frozen=True)
class Cluster:
    """What the indexes show about one model's pools."""

    pools: Mapping[str, PoolObject] = field(default_factory=dict)
    pods: Sequence[ServingPod] = ()
    assignments: Mapping[str, StoredAssignment] = field(default_factory=dict)
    reports: Mapping[str, PodReport | str] = field(default_factory=dict)
    gpus: Mapping[str, int] = field(default_factory=dict)  # GPUs per class


@dataclass(frozen=True)
class ConfigMapWrite:
    name: str
    text: str
    create: dict[str, Any] | None  # the whole object when the ConfigMap does not exist yet
    handovers: str = ""  # the hand-over annotation; empty removes it


@dataclass(frozen=True)
class Rollout:
    namespace: str
    configmaps: tuple[ConfigMapWrite, ...]  # in order: pools gaining rooms first
    statefulsets: tuple[dict[str, Any], ...]  # missing or changed; each after its ConfigMap
    services: tuple[dict[str, Any], ...]
    remove: tuple[str, ...]  # pools whose StatefulSet, Service and ConfigMap go
    status: dict[str, Any]
    conditions: tuple[Condition, ...]
    moved: Mapping[str, str]  # room -> the pod it moves to in this pass
    handovers: tuple[Handover, ...]  # rooms listed on their previous pods as well
    wake_after: float | None
    assigned: Mapping[str, str] = field(default_factory=dict)  # room -> its pod's name


def _spec_hash(obj: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _with_hash(obj: dict[str, Any]) -> dict[str, Any]:
    obj["metadata"].setdefault("annotations", {})[SPEC_HASH_ANNOTATION] = _spec_hash(obj)
    return obj


@dataclass(frozen=True)
class _Wanted:
    pools: dict[str, Pool]  # by name: pools of Ready engines
    holding: dict[str, PoolObject]  # old pools kept for a class whose engine is not Ready
    sizes: list[PoolSize]
    successors: dict[str, str]


def _wanted(model: ModelRef, spec: ModelSpec, records: Sequence[EngineRecord],
            view: InventoryView, cluster: Cluster) -> _Wanted:
    serving = spec.serving
    pools: dict[str, Pool] = {}
    sizes: list[PoolSize] = []
    for record in records:
        gpu = view.classes.get(record.gpu_class)
        if record.state != "Ready" or gpu is None:
            continue
        pool = Pool(model, gpu, record.fingerprint, record.backend)
        pools[pool.name] = pool
        sizes.append(PoolSize(pool.name, crops_per_pod(record.figures.get("throughput")),
                              serving.replicas_min, pod_limit(
                                  serving.replicas_min, serving.replicas_max,
                                  cluster.gpus.get(record.gpu_class))))
    covered = {pool.gpu.name for pool in pools.values()}
    spare = [p for p in sorted(cluster.pools.values(), key=lambda p: p.name)
             if p.name not in pools]
    holding: dict[str, PoolObject] = {}
    # A class whose nodes are mid driver upgrade is out of the view but keeps its engine record
    # (engines/planning.py); its pool keeps serving until the upgrade settles.
    settling = {r.gpu_class for r in records if r.gpu_class not in view.classes} \
        if view.settling else set()
    for gpu_class in sorted((set(view.classes) | settling) - covered):
        same = [p for p in spare if p.name not in holding and hardware(p.gpu_class)
                == hardware(gpu_class)]
        if same:
            old = min(same, key=lambda p: (p.gpu_class != gpu_class, p.name))
            holding[old.name] = old
            size = max(1, old.replicas)
            sizes.append(PoolSize(old.name, None, size, size, holding=True))
    successors = {}
    for old in spare:
        heirs = [p for p in pools.values() if hardware(p.gpu.name) == hardware(old.gpu_class)]
        if old.name not in holding and heirs:
            successors[old.name] = min(heirs, key=lambda p: (p.gpu.name != old.gpu_class,
                                                             p.name)).name
    return _Wanted(pools, holding, sizes, successors)


def _observed(cluster: Cluster) -> Observed:
    """The assignment as the files and their hand-over records show it. A room's pod is the one
    a record hands it to, else the first pod listing it (a record lost between two writes);
    every other pod listing the room keeps a copy."""
    pools = {*cluster.pools, *cluster.assignments}
    listed: dict[str, dict[PodRef, float | None]] = {}
    owners: dict[str, PodRef] = {}
    for name, stored_assignment in sorted(cluster.assignments.items()):
        for room, pod_names in stored_assignment.listed.items():
            record = stored_assignment.handovers.get(room)
            for pod_name in pod_names:
                ref = pod_ref(name, pod_name)
                if ref is not None:
                    listed.setdefault(room, {})[ref] = record.since if record else None
        for room, record in stored_assignment.handovers.items():
            owner = pod_ref(record.to.rpartition("-")[0], record.to)
            if owner is not None and owner.pool in pools:
                owners.setdefault(room, owner)
    stored: dict[str, PodRef] = {}
    copies: dict[str, dict[PodRef, float | None]] = {}
    for room, on in listed.items():
        stored[room] = own = owners.get(room, min(on))
        others = {pod: since for pod, since in on.items() if pod != own}
        if others:
            copies[room] = others
    pods: dict[PodRef, PodState] = {}
    for pod in cluster.pods:
        ref = pod_ref(pod.pool, pod.name)
        if ref is None:
            continue
        report = cluster.reports.get(pod.name)
        if isinstance(report, PodReport):
            healthy = frozenset(s.id for s in report.streams if s.state == HEALTHY)
            pods[ref] = PodState(ready=pod.ready, serving=report.classrooms, healthy=healthy)
        else:
            pods[ref] = PodState(ready=pod.ready)
    return Observed(stored=stored, pods=pods,
                    replicas={name: p.replicas for name, p in cluster.pools.items()},
                    copies=copies)


def plan_rollout(model: ModelRef, *, generation: int, spec: ModelSpec,
                 pod_settings: PodSettings, records: Sequence[EngineRecord],
                 view: InventoryView, selection: Selection, cluster: Cluster,
                 settings: Settings, now: float) -> Rollout:
    """Every write that moves the model's pools toward wanted, and the status they give.

    A model with no classroom runs no pods: GPUs are not held for nothing, and its first
    classroom starts its pools. `now` is seconds since the epoch.
    """
    wanted = _wanted(model, spec, records, view, cluster) if selection.rooms \
        else _Wanted({}, {}, [], {})
    observed = _observed(cluster)
    result = plan(selection.rooms, wanted.sizes, observed, target_fps=spec.serving.target_fps,
                  now=now, successors=wanted.successors)
    rooms = {room.name: room for room in selection.rooms}
    replicas = {**observed.replicas, **result.replicas}
    kept = sorted(name for name in {*cluster.pools, *wanted.pools} if name not in result.remove)

    writes: list[ConfigMapWrite] = []
    too_large: list[str] = []
    gaining: set[str] = set()
    for name in kept:
        by_pod = result.rooms_by_pod(name)
        fingerprint = wanted.pools[name].fingerprint if name in wanted.pools \
            else cluster.pools[name].fingerprint
        document = assignment_document(
            model, fingerprint, generation=generation, pod_settings=pod_settings,
            pods={PodRef(name, o).name: [rooms[r] for r in by_pod.get(PodRef(name, o), [])]
                  for o in range(replicas[name])})
        text = assignment_text(document)
        if len(text.encode()) > ASSIGNMENT_LIMIT:
            too_large.append(name)
            continue
        notes: dict[str, HandoverRecord] = {}
        for handover in result.handovers:
            if handover.source.pool == name:
                notes.setdefault(handover.room,
                                 HandoverRecord(handover.target.name, handover.since))
        note = handovers_text(notes)
        stored = cluster.assignments.get(name)
        if stored is not None and stored.text == text and stored.handovers_text == note:
            continue
        before = {(room, pod) for room, pods in stored.listed.items() for pod in pods} \
            if stored else set()
        after = {(room, pod.name) for pod, names in by_pod.items() for room in names}
        if after - before:
            gaining.add(name)
        create = assignment_configmap(wanted.pools[name], text) \
            if stored is None and name in wanted.pools else None
        if create is not None and note:
            create["metadata"]["annotations"] = {HANDOVERS_ANNOTATION: note}
        if stored is not None or create is not None:
            writes.append(ConfigMapWrite(name, text, create, note))
    # Make before break: the pod taking a room is told before the pod giving it up.
    writes.sort(key=lambda w: (w.name not in gaining, w.name))

    statefulsets, services = [], []
    for name, pool in sorted(wanted.pools.items()):
        if name in too_large:
            continue
        desired = _with_hash(statefulset(pool, spec, pod_settings, settings,
                                         replicas=result.replicas[name]))
        existing = cluster.pools.get(name)
        if existing is None or existing.replicas != result.replicas[name] or \
                existing.spec_hash != desired["metadata"]["annotations"][SPEC_HASH_ANNOTATION]:
            statefulsets.append(desired)
            services.append(headless_service(pool))

    facts = _pool_facts(kept, wanted, cluster, replicas, view)
    sources: dict[str, list[PodRef]] = {}
    for handover in result.handovers:
        sources.setdefault(handover.room, []).append(handover.source)
    summary = summarize(facts, selection.rooms, result.assigned, cluster.reports, sources)
    wanted_pods = sum(f.replicas for f in facts)
    ready_pods = sum(f.ready_replicas for f in facts)
    rolled = rolled_out(facts, result, pools=wanted.pools, holding=wanted.holding,
                        too_large=too_large, selection=selection, pods=cluster.pods,
                        reports=cluster.reports, now=now)
    moved = {room: pod.name for room, pod in sorted(result.assigned.items())
             if observed.stored.get(room) not in (None, pod)}
    transition = bool(result.waiting or result.remove or not result.settled or moved
                      or ready_pods < wanted_pods or rolled.status != "True")
    return Rollout(
        namespace=model.namespace,
        configmaps=tuple(writes),
        statefulsets=tuple(statefulsets),
        services=tuple(services),
        remove=result.remove,
        status={
            "pools": list(summary.pools),
            "streams": {"assigned": summary.assigned, "healthy": summary.healthy},
            "podsReady": ready_pods,
            "podsWanted": wanted_pods,
        },
        conditions=(rolled, summary.condition),
        moved=moved,
        handovers=result.handovers,
        wake_after=TRANSITION_WAKE_SECONDS if transition else None,
        assigned={room: pod.name for room, pod in result.assigned.items()},
    )


def _pool_facts(kept: Sequence[str], wanted: _Wanted, cluster: Cluster,
                replicas: Mapping[str, int], view: InventoryView) -> list[PoolFacts]:
    facts = []
    for name in kept:
        pool, existing = wanted.pools.get(name), cluster.pools.get(name)
        gpu_class = pool.gpu.name if pool else existing.gpu_class if existing else ""
        ready = sum(1 for pod in cluster.pods if pod.pool == name and pod.ready
                    and (ref := pod_ref(name, pod.name)) is not None
                    and ref.ordinal < replicas[name])
        facts.append(PoolFacts(
            name=name, gpu_class=gpu_class,
            fingerprint=pool.fingerprint if pool else existing.fingerprint if existing else "",
            nodes=len(view.nodes_by_class.get(gpu_class, ())),
            replicas=replicas[name], ready_replicas=ready))
    return facts

"""One model's inference rollout, decided from what the indexes show (pure).

Which pools are wanted: one per GPU class of the model's nodes with a Ready engine. A class whose
engine is not Ready yet (a spec change or a driver upgrade is being built and validated) keeps
the pool that served its GPUs before, at its size, until the new pool can take over; that old
pool's rooms then follow the new pool of the same GPUs (docs/contracts.md names classes
`<product>-sm<cc>-drv<driver>`, so the same GPUs are the same name without the driver). Where
the new engine's build or pods wait for GPUs that only the old pool can free, the old pool gives
them up one at a time (rollout/gpu_yield.py). From there `assignment.plan` decides rooms,
hand-overs, sizes and removals; this module turns its plan into the objects to write, in a safe
order, and into status.

Each pool's camera logins (rollout/credentials.py) are written as the Secret
`<pool>-credentials` with every pass, before its assignment names the streams, holding only the
streams its pods are listed for (hand-over copies included). The assignment ConfigMap never holds
a login. Beside RolledOut and StreamsHealthy the rollout reports CameraCredentials, WebhookSigned
and EmotionPolicy (rollout/compliance.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from classroom_operator.conditions import Condition
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.names import GPU_YIELD_ANNOTATION
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
from classroom_operator.rollout.capacity import room_too_large
from classroom_operator.rollout.classrooms import Selection
from classroom_operator.rollout.compliance import (
    SecretLookup,
    emotion_condition,
    signing_condition,
)
from classroom_operator.rollout.condition import rolled_out
from classroom_operator.rollout.credentials import (
    LoginLookup,
    credentials_condition,
    pool_credentials,
)
from classroom_operator.rollout.gpu_yield import (
    GpuYield,
    blocked_builds,
    blocked_pods,
    hardware,
    plan_yields,
    yield_note,
)
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
    credentials_secret,
    credentials_secret_name,
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
TOO_LARGE_SHOWN = 3  # classrooms too large for a pod named in RolledOut; the rest are counted


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
class PoolPatch:
    """A merge patch of an old pool's StatefulSet: a GPU given up (its record, and its pods at
    once where no other pod of the pool can take its classrooms), or its surplus pods going."""

    name: str
    patch: dict[str, Any]
    event: str = ""  # the GpuYielded Event's message, for a GPU given up


@dataclass(frozen=True)
class SecretWrite:
    """A pool's camera logins: patched with `data`, or created whole when missing."""

    name: str
    data: Mapping[str, str] = field(repr=False)
    create: dict[str, Any] | None = field(repr=False)  # None for pools the plan does not want


@dataclass(frozen=True)
class SecretsRead:
    """The Secrets a pass read by name: the camera logins by Secret name, and the sink's Secret
    (its data, None when missing, or why it could not be read)."""

    logins: Mapping[str, LoginLookup] = field(default_factory=dict)
    sink: SecretLookup = None


@dataclass(frozen=True)
class Rollout:
    namespace: str
    secrets: tuple[SecretWrite, ...]  # before any ConfigMap: pods read them as they start
    configmaps: tuple[ConfigMapWrite, ...]  # in order: pools gaining rooms first
    statefulsets: tuple[dict[str, Any], ...]  # missing or changed; each after its ConfigMap
    services: tuple[dict[str, Any], ...]
    remove: tuple[str, ...]  # pools whose StatefulSet, Service and ConfigMap go
    status: dict[str, Any]
    conditions: tuple[Condition, ...]
    moved: Mapping[str, str]  # room -> the pod it moves to in this pass
    handovers: tuple[Handover, ...]  # rooms listed on their previous pods as well
    wake_after: float | None
    pool_patches: tuple[PoolPatch, ...] = ()  # old pools only, after the ConfigMaps
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
            # One that gave GPUs up for the new engine stays at its lowered size; one left
            # with no pod takes no room (its rooms wait for the new engine).
            size = old.gpu_yield.replicas if old.gpu_yield else max(1, old.replicas)
            if size:
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
                 settings: Settings, now: float,
                 secrets: SecretsRead = SecretsRead()) -> Rollout:
    """Every write that moves the model's pools toward wanted, and the status they give.

    A model with no classroom runs no pods: GPUs are not held for nothing, and its first
    classroom starts its pools. `now` is seconds since the epoch.
    """
    wanted = _wanted(model, spec, records, view, cluster) if selection.rooms \
        else _Wanted({}, {}, [], {})
    yields = plan_yields(
        [*blocked_builds(records),
         *blocked_pods(cluster.pods, {n: p.gpu.name for n, p in wanted.pools.items()})],
        [p for n, p in cluster.pools.items() if n not in wanted.pools], cluster.pods,
        now=now, wait_seconds=settings.build_unschedulable_seconds) if selection.rooms else ()
    if yields:
        cluster = _yielded(cluster, yields, wanted)
        wanted = _wanted(model, spec, records, view, cluster)
    observed = _observed(cluster)
    result = plan(selection.rooms, wanted.sizes, observed, target_fps=spec.serving.target_fps,
                  now=now, successors=wanted.successors)
    rooms = {room.name: room for room in selection.rooms}
    replicas = {**observed.replicas, **result.replicas}
    # An old pool holding a class stays until the class's new engine is ready, even emptied.
    removed = tuple(name for name in result.remove if name not in wanted.holding)
    kept = sorted(name for name in {*cluster.pools, *wanted.pools} if name not in removed)

    logins: list[SecretWrite] = []
    for name in kept:
        listed = {room for names in result.rooms_by_pod(name).values() for room in names}
        data = pool_credentials((rooms[r] for r in sorted(listed)), secrets.logins).data()
        create = credentials_secret(wanted.pools[name], data) if name in wanted.pools else None
        logins.append(SecretWrite(credentials_secret_name(name), data, create))

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
    if result.too_large:
        rolled = _with_too_large(rolled, [room_too_large(
            rooms[name], spec.serving.target_fps, capacity)
            for name, capacity in sorted(result.too_large.items())])
    given_up = [yield_note(name, pool.gpu_yield) for name, pool in sorted(cluster.pools.items())
                if pool.gpu_yield is not None and name in kept]
    if given_up:
        rolled = replace(rolled, message=f"{rolled.message}. GPUs given up: "
                                         f"{'; '.join(given_up)}")
    moved = {room: pod.name for room, pod in sorted(result.assigned.items())
             if observed.stored.get(room) not in (None, pod)}
    transition = bool(result.waiting or removed or not result.settled or moved
                      or ready_pods < wanted_pods or rolled.status != "True")
    return Rollout(
        namespace=model.namespace,
        secrets=tuple(logins),
        configmaps=tuple(writes),
        statefulsets=tuple(statefulsets),
        services=tuple(services),
        remove=removed,
        status={
            "pools": list(summary.pools),
            "streams": {"assigned": summary.assigned, "healthy": summary.healthy},
            "podsReady": ready_pods,
            "podsWanted": wanted_pods,
        },
        conditions=(rolled, summary.condition,
                    credentials_condition(selection.rooms, secrets.logins),
                    signing_condition(pod_settings.sink, secrets.sink),
                    emotion_condition(spec, settings)),
        moved=moved,
        handovers=result.handovers,
        wake_after=TRANSITION_WAKE_SECONDS if transition else None,
        pool_patches=_pool_patches(yields, wanted, cluster, result.replicas, observed, now),
        assigned={room: pod.name for room, pod in result.assigned.items()},
    )


def _with_too_large(rolled: Condition, rooms: Sequence[str]) -> Condition:
    """RolledOut naming the classrooms no pod can take alone. Rolled out but for them, it says
    so in its reason rather than OverCapacity, which asks for more pods."""
    shown = "; ".join(rooms[:TOO_LARGE_SHOWN]) + (
        f"; and {len(rooms) - TOO_LARGE_SHOWN} more" if len(rooms) > TOO_LARGE_SHOWN else "")
    reason = "ClassroomTooLarge" if rolled.status == "True" and rolled.reason == "RolledOut" \
        else rolled.reason
    return replace(rolled, reason=reason, message=f"{rolled.message}. {shown}")


def _direct(gpu_yield: GpuYield, wanted: _Wanted) -> bool:
    """A GPU given up at once, its pod's classrooms left waiting: the pool is being replaced,
    or has no other pod to take them. Otherwise its other pods take them over first."""
    return gpu_yield.pool not in wanted.holding or gpu_yield.record.replicas == 0


def _yielded(cluster: Cluster, yields: Sequence[GpuYield], wanted: _Wanted) -> Cluster:
    """The cluster as it is once the GPUs given up in this pass are recorded."""
    pools = dict(cluster.pools)
    for gpu_yield in yields:
        pool = replace(pools[gpu_yield.pool], gpu_yield=gpu_yield.record)
        if _direct(gpu_yield, wanted):
            pool = replace(pool, replicas=gpu_yield.record.replicas)
        pools[gpu_yield.pool] = pool
    return replace(cluster, pools=pools)


def _pool_patches(yields: Sequence[GpuYield], wanted: _Wanted, cluster: Cluster,
                  replicas: Mapping[str, int], observed: Observed,
                  now: float) -> tuple[PoolPatch, ...]:
    patches = []
    given = {y.pool for y in yields}
    for gpu_yield in yields:
        record, stuck = gpu_yield.record, gpu_yield.blocked
        patch: dict[str, Any] = {
            "metadata": {"annotations": {GPU_YIELD_ANNOTATION: record.to_text()}}}
        direct = _direct(gpu_yield, wanted)
        if direct:
            patch["spec"] = {"replicas": record.replicas}
        rooms = sorted(room for room, pod in observed.stored.items()
                       if pod.pool == gpu_yield.pool and pod.ordinal >= record.replicas)
        cost = f"{len(rooms)} classrooms " + (
            "are unserved until their new pods are Ready" if direct
            else "move to its other pods, which run above their usual load meanwhile")
        patches.append(PoolPatch(gpu_yield.pool, patch, event=(
            f"pool {gpu_yield.pool} runs {record.replicas} of {record.before} pods until "
            f"{record.waiting} is ready: {stuck.what} found no GPU for {now - stuck.since:.0f}s "
            f"({stuck.reason}); {cost}" + (f": {', '.join(rooms[:5])}" if rooms else ""))))
    # An old pool that gave a GPU up keeps its surplus pod until its classrooms moved off it.
    for name in sorted(wanted.holding):
        pool = cluster.pools[name]
        if name not in given and name in replicas and replicas[name] < pool.replicas:
            patches.append(PoolPatch(name, {"spec": {"replicas": replicas[name]}}))
    return tuple(patches)


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

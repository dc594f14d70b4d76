"""Which pod serves which classroom, how many pods each pool runs, and when an old pool may go
(pure).

Every room belongs to exactly one pod, and is listed on a second one only while it is handed
over. The planner works from observed facts only (the assignment as last written, which pods
exist and are Ready, which classrooms and healthy streams each pod reports in its /v1/status),
so running it again on the same facts gives the same plan and a restart anywhere converges:

1. Spread: each room gets a target pool among the pools of Ready engines, in proportion to their
   capacity (measured crops/s per pod times the pods the pool may run). A room stays in its pool
   unless that pool carries far more than its share, so adding a room moves no other room.
2. Size: a pool runs enough pods for its rooms' crops at spec.serving.targetFps, with headroom,
   within spec.serving.replicas; rooms stay on their pod while it has room, so removing a pod
   moves only the rooms it had.
3. Make before break: a room moves to its target pod only once that pod is Ready; until then it
   stays on its current pod if that one is Ready. A pool no longer wanted (a new engine for its
   GPU class, a class gone) and a pool's surplus pods are removed only when no room is left on
   them, their pods serve nothing, and every moved room is reported served by its new pod.
4. Hand over without a gap: a Ready pod only connects a room's cameras once it is given the
   room, so the pod a room leaves keeps it too (a hand-over) until the new pod reports Healthy
   every stream that the old one reports Healthy; only then is the room taken off the old pod.
   A stream that is broken on the old pod as well is not waited for, so one dead camera does
   not hold an old pool for ever. A copy on a pod that is not Ready serves nothing and goes at
   once. There is no time limit: an old copy is never dropped before its room is served.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pools import stream_ids

# Pods are sized to run their engine at 70% of its measured throughput: decode, crop and
# analysis share the node, and a burst of faces must not make every stream lag.
HEADROOM = 0.7
# A pool keeps its rooms up to this many times its share of the load (see `_spread`).
SHARE_SLACK = 1.5
# A pool keeps the pods it runs while they are at least this busy (see `_size`).
KEEP_UTILIZATION = 0.5


@dataclass(frozen=True, order=True)
class PodRef:
    pool: str
    ordinal: int

    @property
    def name(self) -> str:
        return f"{self.pool}-{self.ordinal}"


def pod_ref(pool: str, pod_name: str) -> PodRef | None:
    """The pod `<pool>-<ordinal>` of `pool`, or None for a name that is not one of its pods."""
    prefix, _, ordinal = pod_name.rpartition("-")
    if prefix != pool or not ordinal.isdigit():
        return None
    return PodRef(pool, int(ordinal))


@dataclass(frozen=True)
class PoolSize:
    """A wanted pool, as sizing sees it."""

    name: str
    crops_per_pod: float | None  # None: the engine's throughput is unknown
    min_pods: int
    max_pods: int
    # An old pool serving its GPUs until their new engine is ready: it keeps its rooms.
    holding: bool = False


def crops_per_pod(throughput: Mapping[str, object] | None) -> float | None:
    """What one pod may take: the engine's measured crops/s at its opt batch, with headroom."""
    value = (throughput or {}).get("cropsPerSecond")
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return float(value) * HEADROOM


def pod_limit(replicas_min: int, replicas_max: int, gpus: int | None) -> int:
    """Most pods a pool may run: spec.serving.replicas.max, and no more than one per GPU of its
    class (pods beyond that could never be scheduled), but never below replicas.min."""
    if gpus is None:
        return replicas_max
    return max(replicas_min, min(replicas_max, gpus))


@dataclass(frozen=True)
class PodState:
    ready: bool
    # Classrooms the pod's /v1/status lists; None while it has not answered.
    serving: frozenset[str] | None = None
    # Ids of the streams it reports Healthy; None while it has not answered.
    healthy: frozenset[str] | None = None


@dataclass(frozen=True)
class Observed:
    stored: Mapping[str, PodRef] = field(default_factory=dict)  # room -> pod, as last written
    pods: Mapping[PodRef, PodState] = field(default_factory=dict)  # pods that exist
    replicas: Mapping[str, int] = field(default_factory=dict)  # every pool's StatefulSet now
    # Rooms still listed on the pods they are handed over from: room -> pod -> when the
    # hand-over began (seconds since the epoch; None when the file does not say).
    copies: Mapping[str, Mapping[PodRef, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class Handover:
    """A room listed on the pod it left (source) as well as on its own pod (target)."""

    room: str
    source: PodRef
    target: PodRef
    since: float  # seconds since the epoch
    # The room's streams the source reports Healthy and the target does not yet.
    waiting_for: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    assigned: Mapping[str, PodRef]  # room -> pod, to write now
    replicas: Mapping[str, int]  # wanted pool -> pods to run
    remove: tuple[str, ...]  # pools no longer wanted whose pods serve nothing any more
    waiting: tuple[str, ...]  # rooms kept on their pod until their target pod is Ready
    unassigned: tuple[str, ...]  # rooms with no pod at all (no engine ready yet)
    # Pools whose pods hold more rooms than they can take: more pods would help.
    over_capacity: tuple[str, ...]
    # every room on a Ready pod is reported served by it, and no room is being handed over
    settled: bool
    handovers: tuple[Handover, ...] = ()  # by room, then source pod
    # Rooms whose load alone is more than one pod of their pool takes (room -> that pod's
    # crops/s): a room never splits across pods, so more pods cannot help them.
    too_large: Mapping[str, float] = field(default_factory=dict)

    def rooms_by_pod(self, pool: str) -> dict[PodRef, list[str]]:
        """What each pod of the pool is to list: its own rooms and those it is handing over."""
        listed = [*self.assigned.items(), *((h.room, h.source) for h in self.handovers)]
        grouped: dict[PodRef, list[str]] = {}
        for room, pod in sorted(listed):
            if pod.pool == pool:
                grouped.setdefault(pod, []).append(room)
        return grouped


def _spread(rooms: Sequence[Room], pools: Sequence[PoolSize], stored: Mapping[str, PodRef],
            load: Mapping[str, float], successors: Mapping[str, str]) -> dict[str, str]:
    """Room -> target pool, in proportion to capacity. A room stays in its pool (or the pool
    succeeding it) while that pool holds no more than SHARE_SLACK times its share and has room,
    so rooms move between pools only on a large imbalance: a new GPU class, many rooms gone."""
    known = all(pool.crops_per_pod is not None for pool in pools)
    weight = {pool.name: (pool.crops_per_pod or 1.0) * pool.max_pods if known
              else float(pool.max_pods) for pool in pools}
    holding = {pool.name for pool in pools if pool.holding}
    total = sum(load.values())
    limit = {name: SHARE_SLACK * total * w / sum(weight.values()) for name, w in weight.items()}
    if known:
        limit = {name: min(value, weight[name]) for name, value in limit.items()}
    used = dict.fromkeys(weight, 0.0)
    targets: dict[str, str] = {}
    for room in rooms:
        current = stored.get(room.name)
        home = None if current is None else \
            current.pool if current.pool in weight else successors.get(current.pool)
        if home is None or home not in weight:
            continue
        if home in holding or used[home] == 0 or used[home] + load[room.name] <= limit[home]:
            targets[room.name] = home
            used[home] += load[room.name]
    for room in rooms:
        if room.name in targets:
            continue
        chosen = min(weight, key=lambda p: ((used[p] + load[room.name]) / weight[p], p))
        targets[room.name] = chosen
        used[chosen] += load[room.name]
    return targets


def _place(pool: PoolSize, pods: int, rooms: Sequence[Room], stored: Mapping[str, PodRef],
           load: Mapping[str, float]) -> tuple[dict[str, int], list[float], float]:
    """Room -> ordinal on `pods` pods, the load on each pod, and the load of rooms that landed
    on a pod they overfill while a fresh pod would have taken them (more pods would help)."""
    capacity = pool.crops_per_pod
    used = [0.0] * pods
    ordinals: dict[str, int] = {}
    for room in rooms:
        current = stored.get(room.name)
        if current is None or current.pool != pool.name or current.ordinal >= pods:
            continue
        if capacity is None or used[current.ordinal] + load[room.name] <= capacity:
            ordinals[room.name] = current.ordinal
            used[current.ordinal] += load[room.name]
    # The least loaded pod (lowest ordinal on a tie) takes the next room.
    queue = [(value, ordinal) for ordinal, value in enumerate(used)]
    heapq.heapify(queue)
    crowded = 0.0
    for room in rooms:
        if room.name in ordinals:
            continue
        value, chosen = heapq.heappop(queue)
        if capacity is not None and value > 0 and value + load[room.name] > capacity:
            crowded += load[room.name]
        ordinals[room.name] = chosen
        used[chosen] = value + load[room.name]
        heapq.heappush(queue, (used[chosen], chosen))
    return ordinals, used, crowded


def _size(pool: PoolSize, rooms: Sequence[Room], stored: Mapping[str, PodRef],
          load: Mapping[str, float], running: int) -> tuple[int, dict[str, int], bool]:
    """Pods for the pool's rooms, where each goes, and whether the pool is over capacity.

    A pool keeps the `running` pods it has while they are at least KEEP_UTILIZATION used, so a
    small change in load neither removes a pod nor moves the rooms on it."""
    capacity = pool.crops_per_pod
    pods = pool.min_pods
    if capacity is not None:
        # A room never splits, so one larger than a pod needs one pod, not several.
        total = sum(min(load[room.name], capacity) for room in rooms)
        pods = max(pods, math.ceil(total / capacity - 1e-9))
        if running > pods and total >= KEEP_UTILIZATION * running * capacity:
            pods = running
        pods = min(pool.max_pods, pods)
    while True:
        ordinals, used, crowded = _place(pool, pods, rooms, stored, load)
        if not crowded or capacity is None or pods >= pool.max_pods:
            break
        pods = min(pool.max_pods, pods + max(1, math.ceil(crowded / capacity)))
    # A pod over capacity with one room on it is a room too large for any pod, which more
    # pods would not help; with several, more pods would.
    sharing = [0] * pods
    for ordinal in ordinals.values():
        sharing[ordinal] += 1
    over = capacity is not None and any(
        value > capacity and sharing[ordinal] > 1 for ordinal, value in enumerate(used))
    return pods, ordinals, over


def _ready(pods: Mapping[PodRef, PodState], pod: PodRef | None) -> bool:
    return pod is not None and pod in pods and pods[pod].ready


def _serves_nothing(pods: Mapping[PodRef, PodState], pool: str,
                    keep_below: int = 0) -> bool:
    """The pool's pods from `keep_below` on are not Ready or report no classroom."""
    return all(not state.ready or state.serving == frozenset()
               for pod, state in pods.items() if pod.pool == pool and pod.ordinal >= keep_below)


def _covered(room: Room, pod: PodState) -> list[str]:
    """The room's streams a pod gives: those it reports Healthy; all of them while it has not
    answered, as nothing says it would lose none."""
    ids = stream_ids(room)
    return ids if pod.healthy is None else [i for i in ids if i in pod.healthy]


def _handover(room: Room, source: PodRef, target: PodRef, since: float,
              pods: Mapping[PodRef, PodState]) -> Handover | None:
    """The hand-over still under way from `source`, or None once its copy may go: the source
    serves nothing, or the target has taken the room and reports Healthy every stream the
    source does."""
    held = pods.get(source)
    if held is None or not held.ready:
        return None
    new = pods.get(target)
    taken = new is not None and new.ready and room.name in (new.serving or ())
    healthy = new.healthy if new is not None and new.healthy is not None else frozenset()
    waiting_for = tuple(i for i in _covered(room, held) if i not in healthy)
    if taken and not waiting_for:
        return None
    return Handover(room.name, source, target, since, waiting_for or tuple(stream_ids(room)))


def _handovers(rooms: Sequence[Room], assigned: Mapping[str, PodRef], observed: Observed,
               now: float) -> tuple[Handover, ...]:
    """Every pod that lists a room besides its pod keeps it while the hand-over is under way;
    a room that changes pod now is handed over from the pod it leaves."""
    found = []
    for room in rooms:
        target = assigned.get(room.name)
        if target is None:
            continue
        sources = dict(observed.copies.get(room.name, {}))
        current = observed.stored.get(room.name)
        if current is not None:
            sources.setdefault(current, None)
        for source, since in sorted(sources.items()):
            if source == target:
                continue
            handover = _handover(room, source, target, now if since is None else since,
                                 observed.pods)
            if handover is not None:
                found.append(handover)
    return tuple(found)


def plan(rooms: Iterable[Room], pools: Sequence[PoolSize], observed: Observed, *,
         target_fps: int, now: float, successors: Mapping[str, str] | None = None) -> Plan:
    """The assignment to write, the pods each wanted pool runs, and the pools to remove.

    `successors` maps a pool no longer wanted to the wanted pool taking over its GPU class
    (a new engine for the same GPUs), where its rooms go rather than wherever is emptiest.
    `now` (seconds since the epoch) dates the hand-overs that begin in this plan.
    """
    ordered = sorted(rooms, key=lambda r: r.name)
    load = {room.name: room.crops_per_frame * target_fps for room in ordered}
    stored, pods = observed.stored, observed.pods
    targets = _spread(ordered, pools, stored, load, successors or {}) if pools else {}
    sizes: dict[str, int] = {}
    target_pod: dict[str, PodRef] = {}
    over: list[str] = []
    too_large: dict[str, float] = {}
    for pool in pools:
        members = [room for room in ordered if targets.get(room.name) == pool.name]
        if pool.crops_per_pod is not None:
            too_large.update((room.name, pool.crops_per_pod) for room in members
                             if load[room.name] > pool.crops_per_pod)
        sizes[pool.name], ordinals, overfilled = _size(pool, members, stored, load,
                                                       observed.replicas.get(pool.name, 0))
        if overfilled:
            over.append(pool.name)
        target_pod.update({name: PodRef(pool.name, o) for name, o in ordinals.items()})

    assigned: dict[str, PodRef] = {}
    waiting: list[str] = []
    unassigned: list[str] = []
    for room in ordered:
        target, current = target_pod.get(room.name), stored.get(room.name)
        if target is not None and (current in (None, target) or _ready(pods, target)
                                   or not _ready(pods, current)):
            assigned[room.name] = target
        elif current is not None and (_ready(pods, current)
                                      or current.pool in observed.replicas):
            # Make before break: the room stays where it is served until its new pod is Ready.
            assigned[room.name] = current
            if target is not None:
                waiting.append(room.name)
        else:
            unassigned.append(room.name)

    handovers = _handovers(ordered, assigned, observed, now)
    settled = not handovers and all(not _ready(pods, pod) or room in (pods[pod].serving or ())
                                    for room, pod in assigned.items())
    in_use = [*assigned.values(), *(h.source for h in handovers)]
    replicas = {}
    for pool in pools:
        running = observed.replicas.get(pool.name, 0)
        wanted = max(sizes[pool.name], _pods_in_use(in_use, pool.name))
        # Surplus pods go once nothing is left on them and the rooms they had are served.
        shrink = settled and _serves_nothing(pods, pool.name, keep_below=wanted)
        replicas[pool.name] = wanted if wanted >= running or shrink else running
    wanted_pools = {pool.name for pool in pools}
    used_pools = {pod.pool for pod in in_use}
    remove = tuple(sorted(
        name for name in observed.replicas
        if name not in wanted_pools and name not in used_pools and settled
        and _serves_nothing(pods, name)))
    return Plan(assigned=assigned, replicas=replicas, remove=remove, waiting=tuple(waiting),
                unassigned=tuple(unassigned), over_capacity=tuple(over), settled=settled,
                handovers=handovers, too_large=too_large)


def _pods_in_use(in_use: Iterable[PodRef], pool: str) -> int:
    """Pods the pool needs to keep every room it lists: one past the highest ordinal in use."""
    return max((pod.ordinal + 1 for pod in in_use if pod.pool == pool), default=0)

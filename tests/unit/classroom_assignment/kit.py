"""Rooms, pools and observed worlds for the assignment planner's tests."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from classroom_operator.rollout.assignment import Observed, Plan, PodRef, PodState, PoolSize
from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pools import stream_ids
from classroom_operator.spec import Stream

FPS = 10
NOW = 1_795_000_000.0  # seconds since the epoch: when the plans are made


def students(name: str, count: int) -> Room:
    """A room of `count` per-student streams: `count` crops per frame."""
    return Room(name, tuple(Stream(f"rtsp://cams.lan/{name}/{i}", "per-student")
                            for i in range(count)))


def pool(name: str, crops: float | None = 100.0, min_pods: int = 1, max_pods: int = 8) -> PoolSize:
    """A pool whose pods each take `crops` crops/s (after headroom)."""
    return PoolSize(name=name, crops_per_pod=crops, min_pods=min_pods, max_pods=max_pods)


def served(result: Plan, rooms: Iterable[Room], *, ready: bool = True) -> Observed:
    """The world after `result` was written and every pod took the rooms its file lists, each
    reporting every stream Healthy."""
    streams = {room.name: stream_ids(room) for room in rooms}
    replicas = dict(result.replicas)
    for handover in result.handovers:  # a pool no longer wanted still runs while it hands over
        replicas[handover.source.pool] = max(replicas.get(handover.source.pool, 0),
                                             handover.source.ordinal + 1)
    pods = {}
    for name, count in replicas.items():
        listing = result.rooms_by_pod(name)
        for ordinal in range(count):
            names = listing.get(PodRef(name, ordinal), [])
            healthy = frozenset(i for room in names for i in streams.get(room, ()))
            pods[PodRef(name, ordinal)] = PodState(ready, frozenset(names), healthy)
    copies: dict[str, dict[PodRef, float | None]] = {}
    for handover in result.handovers:
        copies.setdefault(handover.room, {})[handover.source] = handover.since
    return Observed(stored=dict(result.assigned), pods=pods, replicas=replicas, copies=copies)


def pods_of(result: Plan) -> Mapping[str, str]:
    return {room: pod.name for room, pod in result.assigned.items()}


PlanFn = Callable[..., Plan]

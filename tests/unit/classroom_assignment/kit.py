"""Rooms, pools and observed worlds for the assignment planner's tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from classroom_operator.assignment import Observed, Plan, PodRef, PodState, PoolSize
from classroom_operator.classrooms import Room
from classroom_operator.spec import Stream

FPS = 10


def students(name: str, count: int) -> Room:
    """A room of `count` per-student streams: `count` crops per frame."""
    return Room(name, tuple(Stream(f"rtsp://cams.lan/{name}/{i}", "per-student")
                            for i in range(count)))


def pool(name: str, crops: float | None = 100.0, min_pods: int = 1, max_pods: int = 8) -> PoolSize:
    """A pool whose pods each take `crops` crops/s (after headroom)."""
    return PoolSize(name=name, crops_per_pod=crops, min_pods=min_pods, max_pods=max_pods)


def served(result: Plan, *, ready: bool = True) -> Observed:
    """The world after `result` was written and every pod took its rooms."""
    rooms: dict[PodRef, set[str]] = {}
    for room, pod in result.assigned.items():
        rooms.setdefault(pod, set()).add(room)
    pods = {PodRef(name, ordinal): PodState(ready, frozenset(rooms.get(PodRef(name, ordinal),
                                                                        ())))
            for name, count in result.replicas.items() for ordinal in range(count)}
    return Observed(stored=dict(result.assigned), pods=pods, replicas=dict(result.replicas))


def pods_of(result: Plan) -> Mapping[str, str]:
    return {room: pod.name for room, pod in result.assigned.items()}


PlanFn = Callable[..., Plan]

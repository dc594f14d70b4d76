"""Pods per pool from the engine's measured throughput, within spec.serving.replicas."""

from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.rollout.assignment import Observed as World
from classroom_operator.rollout.assignment import crops_per_pod, plan, pod_limit
from unit.classroom_assignment.kit import FPS, NOW, PlanFn, pool, served, students


def _load_per_pod(result: Any, rooms: dict[str, int]) -> dict[str, int]:
    load: dict[str, int] = {}
    for room, pod in result.assigned.items():
        load[pod.name] = load.get(pod.name, 0) + rooms[room] * FPS
    return load


def test_throughput_with_headroom_is_what_a_pod_takes() -> None:
    assert crops_per_pod({"batch": 64, "cropsPerSecond": 1000}) == pytest.approx(700)


@pytest.mark.parametrize("throughput", [None, {}, {"cropsPerSecond": 0},
                                        {"cropsPerSecond": True}, {"cropsPerSecond": "fast"}])
def test_no_usable_throughput_is_unknown(throughput: Any) -> None:
    assert crops_per_pod(throughput) is None


def test_pods_are_limited_by_the_classes_gpus_but_never_below_the_minimum() -> None:
    assert pod_limit(1, 16, None) == 16
    assert pod_limit(1, 16, 3) == 3
    assert pod_limit(2, 16, 0) == 2
    assert pod_limit(1, 4, 10) == 4


def test_enough_pods_for_the_rooms_crops(replan: PlanFn) -> None:
    # 3 rooms of 4 students at 10 fps: 120 crops/s, pods take 100.
    result = replan([students(f"r{i}", 4) for i in range(3)], [pool("a")])
    assert result.replicas == {"a": 2}
    assert max(_load_per_pod(result, {"r0": 4, "r1": 4, "r2": 4}).values()) <= 100
    assert result.over_capacity == ()


def test_target_fps_scales_the_load(replan: PlanFn) -> None:
    rooms = [students(f"r{i}", 1) for i in range(6)]
    assert replan(rooms, [pool("a")], fps=10).replicas == {"a": 1}
    assert replan(rooms, [pool("a")], fps=30).replicas == {"a": 2}


def test_rooms_do_not_split_so_a_pool_may_need_more_than_the_sum(replan: PlanFn) -> None:
    # 3 rooms of 60 crops/s: 180 in all, but two pods of 100 cannot hold three such rooms.
    rooms = {f"r{i}": 6 for i in range(3)}
    result = replan([students(name, n) for name, n in rooms.items()], [pool("a")])
    assert result.replicas == {"a": 3}
    assert max(_load_per_pod(result, rooms).values()) <= 100


def test_clamped_to_the_maximum_and_reported_over_capacity(replan: PlanFn) -> None:
    result = replan([students(f"r{i}", 5) for i in range(6)], [pool("a", max_pods=2)])
    assert result.replicas == {"a": 2}
    assert result.over_capacity == ("a",)
    assert len(result.assigned) == 6


def test_at_least_the_minimum(replan: PlanFn) -> None:
    result = replan([students("r0", 1)], [pool("a", min_pods=3)])
    assert result.replicas == {"a": 3}


def test_a_room_larger_than_a_pod_gets_one_pod_not_all(replan: PlanFn) -> None:
    result = replan([students("huge", 15)], [pool("a", max_pods=8)])
    assert result.replicas == {"a": 1}
    # More pods would not help: the room is named as too large, the pool is not over capacity.
    assert result.over_capacity == ()
    assert result.too_large == {"huge": 100.0}


def test_a_large_room_beside_others_still_asks_for_more_pods_when_they_crowd(
        replan: PlanFn) -> None:
    # At most one pod: the small rooms share the large room's pod, and a second pod would help.
    result = replan([students("huge", 15), students("small", 2)], [pool("a", max_pods=1)])
    assert result.replicas == {"a": 1}
    assert result.over_capacity == ("a",)
    assert result.too_large == {"huge": 100.0}
    # With room for more pods, the small room gets its own; only the large room is left.
    spread = replan([students("huge", 15), students("small", 2)], [pool("a", max_pods=4)])
    assert spread.replicas == {"a": 2}
    assert (spread.over_capacity, spread.too_large) == ((), {"huge": 100.0})


def test_unknown_throughput_runs_the_minimum_and_spreads_streams(replan: PlanFn) -> None:
    rooms = [students("r0", 4), students("r1", 1), students("r2", 1), students("r3", 2)]
    result = replan(rooms, [pool("a", crops=None, min_pods=2)])
    assert result.replicas == {"a": 2}
    load = _load_per_pod(result, {"r0": 4, "r1": 1, "r2": 1, "r3": 2})
    assert sorted(load.values()) == [40, 40]
    assert result.over_capacity == ()


def test_no_rooms_still_runs_the_minimum(replan: PlanFn) -> None:
    result = replan([], [pool("a", min_pods=2), pool("b")])
    assert result.replicas == {"a": 2, "b": 1}
    assert result.assigned == {}


def test_the_plan_is_the_same_for_the_same_facts() -> None:
    rooms = [students(f"r{i}", 1 + i % 5) for i in range(30)]
    pools = [pool("a", crops=150), pool("b", crops=90, max_pods=3)]
    first = plan(rooms, pools, World(), target_fps=FPS, now=NOW)
    again = plan(list(reversed(rooms)), pools, World(), target_fps=FPS, now=NOW)
    assert first == again


def test_a_pool_keeps_its_pods_while_they_are_half_busy(replan: PlanFn) -> None:
    # Nine rooms of 30 crops/s on pods of 100: three pods.
    rooms = [students(f"room-{i}", 3) for i in range(9)]
    result = replan(rooms, [pool("a")])
    assert result.replicas == {"a": 3}
    # Two rooms leave: 210 crops/s is still more than half of three pods' 300, so nothing
    # shrinks and nothing moves.
    fewer = [room for room in rooms if room.name not in ("room-0", "room-1")]
    kept = replan(fewer, [pool("a")], served(result, rooms))
    assert kept.replicas == {"a": 3}
    assert all(kept.assigned[r.name] == result.assigned[r.name] for r in fewer)
    # Only three rooms are left: below half of three pods, the pool shrinks to what it needs.
    few = fewer[:3]
    shrunk = replan(few, [pool("a")], served(kept, fewer))
    assert max(pod.ordinal for pod in shrunk.assigned.values()) == 0
    # The pods the rooms left keep them until pod 0 serves them, then shut down.
    handed = replan(few, [pool("a")], served(shrunk, few))
    assert handed.handovers == () and handed.replicas == {"a": 3}
    final = replan(few, [pool("a")], served(handed, few))
    assert final.replicas == {"a": 1}

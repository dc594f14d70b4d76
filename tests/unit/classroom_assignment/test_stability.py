"""Every room on exactly one pod; spread by capacity; a change moves only the rooms it must."""

from __future__ import annotations

import random

from classroom_operator.rollout.assignment import Observed, PodRef, PodState, pod_ref
from unit.classroom_assignment.kit import PlanFn, pods_of, pool, served, students


def test_pod_names_parse_back_to_their_pool_and_ordinal() -> None:
    assert pod_ref("attention-01234567", "attention-01234567-12") == \
        PodRef("attention-01234567", 12)
    assert PodRef("attention-01234567", 12).name == "attention-01234567-12"
    assert pod_ref("attention-01234567", "attention-01234567-x") is None
    assert pod_ref("attention-01234567", "other-01234567-0") is None


def test_every_room_goes_to_exactly_one_existing_pod(replan: PlanFn) -> None:
    generator = random.Random(7)
    for _ in range(50):
        rooms = [students(f"room-{i}", generator.randint(1, 12))
                 for i in range(generator.randint(1, 40))]
        pools = [pool(f"p{j}", crops=generator.choice([None, 80.0, 150.0, 400.0]),
                      max_pods=generator.randint(1, 6)) for j in range(generator.randint(1, 3))]
        result = replan(rooms, pools)
        assert set(result.assigned) == {room.name for room in rooms}
        for pod in result.assigned.values():
            assert 0 <= pod.ordinal < result.replicas[pod.pool]
        assert result.unassigned == () and result.waiting == ()


def test_rooms_spread_in_proportion_to_pool_capacity(replan: PlanFn) -> None:
    # a: 4 pods of 200 crops/s; b: 4 pods of 100. Twelve rooms of 20 crops/s.
    result = replan([students(f"r{i:02}", 2) for i in range(12)],
                    [pool("a", crops=200, max_pods=4), pool("b", crops=100, max_pods=4)])
    counts = {name: sum(1 for pod in result.assigned.values() if pod.pool == name)
              for name in ("a", "b")}
    assert counts == {"a": 8, "b": 4}


def test_adding_a_room_moves_no_other_room(replan: PlanFn) -> None:
    generator = random.Random(11)
    pools = [pool("a", crops=120, max_pods=5), pool("b", crops=60, max_pods=5)]
    rooms = [students(f"room-{i:02}", generator.randint(1, 4)) for i in range(10)]
    result = replan(rooms, pools)
    for i in range(10, 30):
        before = pods_of(result)
        rooms.append(students(f"room-{i:02}", generator.randint(1, 4)))
        result = replan(rooms, pools, served(result, rooms))
        after = pods_of(result)
        assert {room: after[room] for room in before} == before
        assert len(after) == len(rooms)


def test_removing_a_room_moves_no_other_room(replan: PlanFn) -> None:
    pools = [pool("a", crops=100, max_pods=5)]
    rooms = [students(f"room-{i}", 3) for i in range(9)]
    result = replan(rooms, pools)
    before = pods_of(result)
    rooms.pop(4)
    after = pods_of(replan(rooms, pools, served(result, rooms)))
    assert after == {room: pod for room, pod in before.items() if room != "room-4"}


def test_a_pod_taken_away_moves_only_its_rooms(replan: PlanFn) -> None:
    rooms = [students(f"room-{i}", 3) for i in range(9)]
    result = replan(rooms, [pool("a", crops=100, max_pods=3)])
    assert result.replicas == {"a": 3}
    before = pods_of(result)
    shrunk = replan(rooms, [pool("a", crops=100, max_pods=2)], served(result, rooms))
    after = pods_of(shrunk)
    for room, pod in before.items():
        if pod != "a-2":
            assert after[room] == pod
        else:
            assert after[room] in ("a-0", "a-1")
    # The third pod keeps its rooms too until they are served elsewhere ...
    assert shrunk.replicas == {"a": 3}
    assert not shrunk.settled
    assert {h.room for h in shrunk.handovers} == {r for r, p in before.items() if p == "a-2"}
    assert all(h.source == PodRef("a", 2) for h in shrunk.handovers)
    # ... then lets go of them, and once it serves nothing it goes.
    handed = replan(rooms, [pool("a", crops=100, max_pods=2)], served(shrunk, rooms))
    assert handed.handovers == () and handed.replicas == {"a": 3}
    done = replan(rooms, [pool("a", crops=100, max_pods=2)], served(handed, rooms))
    assert done.replicas == {"a": 2} and done.settled


def test_a_pod_that_is_not_ready_keeps_its_rooms(replan: PlanFn) -> None:
    rooms = [students(f"room-{i}", 3) for i in range(6)]
    pools = [pool("a", crops=100)]
    result = replan(rooms, pools)
    world = served(result, rooms)
    restarting = PodRef("a", 0)
    pods = dict(world.pods)
    pods[restarting] = PodState(ready=False, serving=None)
    again = replan(rooms, pools, Observed(world.stored, pods, world.replicas))
    assert pods_of(again) == pods_of(result)


def test_a_new_gpu_class_takes_new_rooms_without_moving_the_old(replan: PlanFn) -> None:
    rooms = [students(f"room-{i}", 2) for i in range(6)]
    result = replan(rooms, [pool("a", crops=200)])
    before = pods_of(result)
    rooms += [students(f"room-{i}", 2) for i in range(6, 9)]
    both = [pool("a", crops=200), pool("b", crops=200)]
    after = pods_of(replan(rooms, both, served(result, rooms)))
    assert {room: after[room] for room in before} == before
    assert {after[f"room-{i}"] for i in range(6, 9)} <= {"a-0", "b-0"}
    assert "b-0" in after.values()


def test_a_new_gpu_class_takes_rooms_only_beyond_half_again_a_fair_share(
        replan: PlanFn) -> None:
    # Engines finish one after another: every room went to the first pool ready.
    rooms = [students(f"room-{i}", 2) for i in range(8)]
    first = replan(rooms, [pool("a", crops=400)])
    both = [pool("a", crops=400), pool("b", crops=400)]
    waiting = replan(rooms, both, served(first, rooms))
    # a's share is 4 rooms; it keeps 1.5 times that, and the last two (by name) move once
    # b's pod is Ready.
    assert waiting.waiting == ("room-6", "room-7")
    assert waiting.replicas == {"a": 1, "b": 1}
    spread = replan(rooms, both, served(waiting, rooms))
    on_b = sorted(room for room, pod in spread.assigned.items() if pod.pool == "b")
    assert on_b == ["room-6", "room-7"]
    assert replan(rooms, both, served(spread, rooms)).assigned == spread.assigned


def test_rooms_leave_a_pool_that_can_no_longer_hold_them(replan: PlanFn) -> None:
    # The engine was rebuilt slower for class a: its pods hold half as much, and b has room.
    rooms = [students(f"room-{i}", 4) for i in range(6)]
    pools = [pool("a", crops=100, max_pods=3), pool("b", crops=100, max_pods=3)]
    result = replan(rooms, pools)
    slower = [pool("a", crops=50, max_pods=3), pool("b", crops=100, max_pods=3)]
    again = replan(rooms, slower, served(result, rooms))
    on_a = [room for room, pod in again.assigned.items() if pod.pool == "a"]
    assert sum(4 * 10 for _ in on_a) <= 150
    assert set(again.assigned) == {room.name for room in rooms}


def test_adding_rooms_at_district_scale_moves_none(replan: PlanFn) -> None:
    generator = random.Random(1)
    pools = [pool(f"p{j}", crops=5000.0 * (1 + j % 3), max_pods=256) for j in range(6)]
    rooms = [students(f"room-{i:04}", generator.randint(1, 40)) for i in range(1500)]
    result = replan(rooms, pools, fps=30)
    for i in range(1500, 1505):
        before = pods_of(result)
        rooms.append(students(f"room-{i:04}", generator.randint(1, 40)))
        result = replan(rooms, pools, served(result, rooms), fps=30)
        after = pods_of(result)
        assert [room for room in before if after[room] != before[room]] == []

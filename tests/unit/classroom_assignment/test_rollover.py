"""A pool rollover, make before break: the old pool serves until the new pool's pods are Ready,
then the rooms move, then the old pool goes once the new pods report serving them."""

from __future__ import annotations

from collections.abc import Iterable

from classroom_operator.assignment import Observed, Plan, PodRef, PodState
from unit.classroom_assignment.kit import PlanFn, pods_of, pool, served, students

ROOMS = [students("room-101", 3), students("room-102", 2), students("room-103", 4)]
OLD, NEW = "attention-0ld00000", "attention-new00000"


def _world(plan_or_stored: Plan | dict[str, PodRef], pods: dict[PodRef, PodState],
           replicas: dict[str, int]) -> Observed:
    stored = plan_or_stored.assigned if isinstance(plan_or_stored, Plan) else plan_or_stored
    return Observed(stored=dict(stored), pods=pods, replicas=replicas)


def _serving(*rooms: str, ready: bool = True) -> PodState:
    return PodState(ready=ready, serving=frozenset(rooms))


def _every_room_on_a_ready_pod(result: Plan, pods: dict[PodRef, PodState],
                               rooms: Iterable[str]) -> None:
    for room in rooms:
        pod = result.assigned[room]
        assert pods[pod].ready, f"{room} is on {pod.name}, which is not Ready"


def test_rollover_step_by_step(replan: PlanFn) -> None:
    names = [room.name for room in ROOMS]
    stable = replan(ROOMS, [pool(OLD)])
    assert set(pods_of(stable).values()) == {f"{OLD}-0"}
    old_pod = PodRef(OLD, 0)
    everything = _serving(*names)

    # 1. A new engine is ready for the class: the new pool is created, rooms stay.
    step = replan(ROOMS, [pool(NEW)], _world(stable, {old_pod: everything}, {OLD: 1}))
    assert step.replicas == {NEW: 1}
    assert set(pods_of(step).values()) == {f"{OLD}-0"}
    assert set(step.waiting) == set(names)
    assert step.remove == ()

    # 2. Its pod exists but is not Ready yet: still nothing moves.
    new_pod = PodRef(NEW, 0)
    pods = {old_pod: everything, new_pod: PodState(ready=False)}
    step = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
    assert set(pods_of(step).values()) == {f"{OLD}-0"}
    _every_room_on_a_ready_pod(step, pods, names)
    assert step.remove == ()

    # 3. Ready (serving nothing yet): the rooms move; the old pool still runs.
    pods = {old_pod: everything, new_pod: _serving()}
    step = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
    assert set(pods_of(step).values()) == {f"{NEW}-0"}
    assert step.waiting == ()
    assert not step.settled
    assert step.remove == ()

    # 4. The old pod has dropped them but the new one has not taken them all: wait.
    pods = {old_pod: _serving(), new_pod: _serving("room-101")}
    again = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
    assert again.remove == ()
    assert pods_of(again) == pods_of(step)

    # 5. The old pod still serves a room it was told to drop: wait.
    pods = {old_pod: _serving("room-102"), new_pod: _serving(*names)}
    assert replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1})).remove == ()

    # 6. Every room is served by the new pod and the old pod serves nothing: remove it.
    pods = {old_pod: _serving(), new_pod: _serving(*names)}
    done = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
    assert done.remove == (OLD,)
    assert done.settled
    assert done.replicas == {NEW: 1}


def test_rooms_move_pod_by_pod_as_new_pods_become_ready(replan: PlanFn) -> None:
    rooms = [students(f"room-{i}", 5) for i in range(4)]
    old = replan(rooms, [pool(OLD, crops=100)])
    assert old.replicas == {OLD: 2}
    world = served(old)
    first = replan(rooms, [pool(NEW, crops=100)], world)
    assert first.replicas == {NEW: 2}
    # One new pod is Ready, the other is still loading its engine.
    pods = {**world.pods, PodRef(NEW, 0): _serving(), PodRef(NEW, 1): PodState(ready=False)}
    step = replan(rooms, [pool(NEW, crops=100)],
                  _world(first, pods, {OLD: 2, NEW: 2}))
    moved = {room for room, pod in step.assigned.items() if pod == PodRef(NEW, 0)}
    waiting = {room for room, pod in step.assigned.items() if pod.pool == OLD}
    assert moved and waiting and moved | waiting == {room.name for room in rooms}
    assert set(step.waiting) == waiting
    _every_room_on_a_ready_pod(step, pods, [room.name for room in rooms])
    assert step.remove == ()


def test_a_new_engine_that_never_gets_ready_leaves_the_old_pool_serving(
        replan: PlanFn) -> None:
    step = replan(ROOMS, [pool(OLD)])
    pods = {PodRef(OLD, 0): _serving(*pods_of(step)), PodRef(NEW, 0): PodState(ready=False)}
    for _ in range(3):
        step = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
        assert set(pods_of(step).values()) == {f"{OLD}-0"}
        assert step.remove == ()


def test_no_engine_ready_keeps_rooms_where_they_are(replan: PlanFn) -> None:
    stable = replan(ROOMS, [pool(OLD)])
    world = served(stable)
    # The class's new engine is still building: no wanted pool at all.
    step = replan(ROOMS, [], world)
    assert pods_of(step) == pods_of(stable)
    assert step.remove == () and step.unassigned == () and step.replicas == {}


def test_no_engine_and_no_pool_leaves_rooms_unassigned(replan: PlanFn) -> None:
    result = replan(ROOMS, [])
    assert result.assigned == {}
    assert result.unassigned == ("room-101", "room-102", "room-103")


def test_an_old_pool_whose_pods_are_gone_is_removed_at_once(replan: PlanFn) -> None:
    # A driver upgrade evicted the old pods; they cannot come back on the upgraded nodes.
    stable = replan(ROOMS, [pool(OLD)])
    pods = {PodRef(OLD, 0): PodState(ready=False), PodRef(NEW, 0): PodState(ready=False)}
    step = replan(ROOMS, [pool(NEW)], _world(stable, pods, {OLD: 1, NEW: 1}))
    assert set(pods_of(step).values()) == {f"{NEW}-0"}
    assert step.remove == (OLD,)


def test_a_pod_that_does_not_report_holds_the_old_pool(replan: PlanFn) -> None:
    stable = replan(ROOMS, [pool(OLD)])
    names = list(pods_of(stable))
    moved = replan(ROOMS, [pool(NEW)], _world(
        stable, {PodRef(OLD, 0): _serving(*names), PodRef(NEW, 0): _serving()},
        {OLD: 1, NEW: 1}))
    silent = {PodRef(OLD, 0): _serving(), PodRef(NEW, 0): PodState(ready=True, serving=None)}
    assert replan(ROOMS, [pool(NEW)], _world(moved, silent, {OLD: 1, NEW: 1})).remove == ()


def test_a_pool_for_a_class_that_left_is_drained_into_the_others(replan: PlanFn) -> None:
    # Two classes; every node of class "l4" is gone, so its pool is no longer wanted.
    stable = replan(ROOMS, [pool("a100"), pool("l4")])
    on_l4 = {room for room, pod in stable.assigned.items() if pod.pool == "l4"}
    assert on_l4
    step = replan(ROOMS, [pool("a100")], served(stable))
    assert {pod.pool for pod in step.assigned.values()} == {"a100"}
    assert step.remove == ()
    pods = {PodRef("a100", 0): _serving(*[room.name for room in ROOMS]),
            PodRef("l4", 0): _serving()}
    done = replan(ROOMS, [pool("a100")], _world(step, pods, {"a100": 1, "l4": 1}))
    assert done.remove == ("l4",)


def test_rooms_follow_the_pool_that_takes_over_their_gpus(replan: PlanFn) -> None:
    rooms = [students(f"room-{i}", 2) for i in range(6)]
    on_old = {f"room-{i}" for i in range(3)}
    stored = {room.name: PodRef(OLD, 0) if room.name in on_old else PodRef("l4", 0)
              for room in rooms}
    old_pod, l4_pod = PodRef(OLD, 0), PodRef("l4", 0)
    pods = {old_pod: _serving(*sorted(on_old)), l4_pod: _serving(*(set(stored) - on_old))}
    world = Observed(stored=stored, pods=pods, replicas={OLD: 1, "l4": 1})
    # The L4 pool has more room: without a successor some rooms would go there.
    wanted = [pool(NEW, crops=200), pool("l4", crops=400)]
    elsewhere = replan(rooms, wanted, world)
    assert l4_pod in {elsewhere.assigned[room] for room in on_old}

    followed = replan(rooms, wanted, world, successors={OLD: NEW})
    # Still on the old pool (the new pod is not Ready), all bound for the new pool.
    assert {followed.assigned[room] for room in on_old} == {old_pod}
    assert set(followed.waiting) == on_old
    assert followed.replicas[NEW] == 1
    ready = Observed(stored=stored, pods={**pods, PodRef(NEW, 0): _serving()},
                     replicas={OLD: 1, "l4": 1, NEW: 1})
    moved = replan(rooms, wanted, ready, successors={OLD: NEW})
    assert {moved.assigned[room] for room in on_old} == {PodRef(NEW, 0)}
    assert {moved.assigned[room] for room in set(stored) - on_old} == {l4_pod}

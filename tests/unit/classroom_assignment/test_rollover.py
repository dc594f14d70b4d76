"""A pool rollover, make before break: the old pool serves until the new pool's pods are Ready,
then the rooms move, handed over with both pods listing them until the new pod reports their
streams Healthy, then the old pool goes once its pods serve nothing."""

from __future__ import annotations

from collections.abc import Iterable

from classroom_operator.rollout.assignment import Observed, Plan, PodRef, PodState
from classroom_operator.rollout.pools import stream_ids
from unit.classroom_assignment.kit import NOW, PlanFn, pods_of, pool, served, students

ROOMS = [students("room-101", 3), students("room-102", 2), students("room-103", 4)]
SMALL = [students(f"room-{i}", 2) for i in range(6)]
STREAMS = {room.name: stream_ids(room) for room in (*ROOMS, *SMALL)}
OLD, NEW = "attention-0ld00000", "attention-new00000"


def _world(plan_or_stored: Plan | dict[str, PodRef], pods: dict[PodRef, PodState],
           replicas: dict[str, int]) -> Observed:
    """The world after a plan was written (its hand-overs too), with `pods` as they are."""
    if not isinstance(plan_or_stored, Plan):
        return Observed(stored=dict(plan_or_stored), pods=pods, replicas=replicas)
    copies: dict[str, dict[PodRef, float | None]] = {}
    for handover in plan_or_stored.handovers:
        copies.setdefault(handover.room, {})[handover.source] = handover.since
    return Observed(stored=dict(plan_or_stored.assigned), pods=pods, replicas=replicas,
                    copies=copies)


def _serving(*rooms: str, ready: bool = True, healthy: Iterable[str] | None = None) -> PodState:
    """A pod serving `rooms`, all their streams Healthy unless `healthy` names the rooms that
    are (the others still connecting)."""
    good = rooms if healthy is None else healthy
    return PodState(ready=ready, serving=frozenset(rooms),
                    healthy=frozenset(i for room in good for i in STREAMS[room]))


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
    assert step.remove == () and step.handovers == ()

    # 2. Its pod exists but is not Ready yet: still nothing moves.
    new_pod = PodRef(NEW, 0)
    pods = {old_pod: everything, new_pod: PodState(ready=False)}
    step = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
    assert set(pods_of(step).values()) == {f"{OLD}-0"}
    _every_room_on_a_ready_pod(step, pods, names)
    assert step.remove == () and step.handovers == ()

    # 3. Ready (serving nothing yet): the rooms are the new pod's, and the old pod keeps them
    # too, so their cameras stay served while the new pod connects them.
    pods = {old_pod: everything, new_pod: _serving()}
    step = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}))
    assert set(pods_of(step).values()) == {f"{NEW}-0"}
    assert step.waiting == () and step.remove == ()
    assert not step.settled
    assert [(h.room, h.source, h.target, h.since) for h in step.handovers] == \
        [(name, old_pod, new_pod, NOW) for name in names]
    assert step.rooms_by_pod(OLD) == {old_pod: names}
    assert step.rooms_by_pod(NEW) == {new_pod: names}

    # 4. The new pod took the rooms but their streams are still connecting: both keep them.
    pods = {old_pod: everything, new_pod: _serving(*names, healthy=())}
    later = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}), now=NOW + 5)
    assert later.handovers == step.handovers  # dated from when they began
    assert later.handovers[0].waiting_for == tuple(STREAMS["room-101"])
    assert later.remove == () and later.rooms_by_pod(OLD) == {old_pod: names}

    # 5. Two rooms are healthy on the new pod: only the third is still handed over.
    pods = {old_pod: everything, new_pod: _serving(*names, healthy=("room-101", "room-102"))}
    step = replan(ROOMS, [pool(NEW)], _world(later, pods, {OLD: 1, NEW: 1}), now=NOW + 6)
    assert [h.room for h in step.handovers] == ["room-103"]
    assert step.rooms_by_pod(OLD) == {old_pod: ["room-103"]}
    assert step.remove == ()

    # 6. Every stream is healthy on the new pod: the old pod's file lists nothing, but it
    # still serves what it had until it reads the file.
    pods = {old_pod: everything, new_pod: _serving(*names)}
    step = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}), now=NOW + 8)
    assert step.handovers == () and step.rooms_by_pod(OLD) == {}
    assert step.remove == ()

    # 7. The old pod serves nothing: remove it.
    pods = {old_pod: _serving(), new_pod: _serving(*names)}
    done = replan(ROOMS, [pool(NEW)], _world(step, pods, {OLD: 1, NEW: 1}), now=NOW + 9)
    assert done.remove == (OLD,)
    assert done.settled
    assert done.replicas == {NEW: 1}


def test_rooms_move_pod_by_pod_as_new_pods_become_ready(replan: PlanFn) -> None:
    rooms = [students(f"room-{i}", 5) for i in range(4)]
    old = replan(rooms, [pool(OLD, crops=100)])
    assert old.replicas == {OLD: 2}
    world = served(old, rooms)
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
    world = served(stable, ROOMS)
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
    step = replan(ROOMS, [pool("a100")], served(stable, ROOMS))
    assert {pod.pool for pod in step.assigned.values()} == {"a100"}
    assert step.remove == ()
    pods = {PodRef("a100", 0): _serving(*[room.name for room in ROOMS]),
            PodRef("l4", 0): _serving()}
    done = replan(ROOMS, [pool("a100")], _world(step, pods, {"a100": 1, "l4": 1}))
    assert done.remove == ("l4",)


def test_rooms_follow_the_pool_that_takes_over_their_gpus(replan: PlanFn) -> None:
    rooms = SMALL
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

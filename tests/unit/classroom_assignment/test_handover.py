"""Hand-over without a gap: a room that changes pod stays listed on the pod it leaves until the
new pod reports its streams Healthy, however long that takes; a copy that serves nothing goes."""

from __future__ import annotations

from collections.abc import Iterable

from classroom_operator.rollout.assignment import Observed, Plan, PodRef, PodState
from classroom_operator.rollout.pools import stream_ids
from unit.classroom_assignment.kit import NOW, PlanFn, pool, students

ROOMS = [students("room-101", 3), students("room-102", 2)]
NAMES = [room.name for room in ROOMS]
OLD, NEW = "attention-0ld00000", "attention-new00000"
OLD_POD, NEW_POD = PodRef(OLD, 0), PodRef(NEW, 0)


def _pod(*rooms: str, healthy: Iterable[str] = (), ready: bool = True) -> PodState:
    """A Ready pod serving `rooms`, reporting the stream ids `healthy` Healthy."""
    return PodState(ready=ready, serving=frozenset(rooms), healthy=frozenset(healthy))


def _all(*rooms: str) -> list[str]:
    return [i for room in ROOMS if room.name in rooms for i in stream_ids(room)]


def _after(result: Plan, pods: dict[PodRef, PodState]) -> Observed:
    """The world once `result` is written, its hand-overs recorded, with `pods` as they are."""
    copies: dict[str, dict[PodRef, float | None]] = {}
    for handover in result.handovers:
        copies.setdefault(handover.room, {})[handover.source] = handover.since
    return Observed(stored=dict(result.assigned), pods=pods,
                    replicas={OLD: 1, NEW: 1}, copies=copies)


def _handing_over(replan: PlanFn) -> Plan:
    """The old pool serves both rooms and the new pool's pod has just become Ready."""
    stored = {name: OLD_POD for name in NAMES}
    pods = {OLD_POD: _pod(*NAMES, healthy=_all(*NAMES)), NEW_POD: _pod()}
    result = replan(ROOMS, [pool(NEW)], Observed(stored=stored, pods=pods,
                                                 replicas={OLD: 1, NEW: 1}))
    assert {h.room for h in result.handovers} == set(NAMES)
    return result


def test_a_new_pod_that_never_gets_healthy_never_takes_the_old_copy(replan: PlanFn) -> None:
    step = _handing_over(replan)
    pods = {OLD_POD: _pod(*NAMES, healthy=_all(*NAMES)), NEW_POD: _pod(*NAMES)}
    for minutes in (1, 10, 600):
        step = replan(ROOMS, [pool(NEW)], _after(step, pods), now=NOW + 60 * minutes)
        assert [(h.room, h.source, h.since) for h in step.handovers] == \
            [(name, OLD_POD, NOW) for name in NAMES]
        assert step.rooms_by_pod(OLD) == {OLD_POD: NAMES}
        assert step.remove == () and not step.settled


def test_the_new_pod_stopping_mid_hand_over_keeps_the_old_copy(replan: PlanFn) -> None:
    step = _handing_over(replan)
    pods = {OLD_POD: _pod(*NAMES, healthy=_all(*NAMES)), NEW_POD: PodState(ready=False)}
    again = replan(ROOMS, [pool(NEW)], _after(step, pods), now=NOW + 30)
    assert {h.room for h in again.handovers} == set(NAMES)
    assert again.rooms_by_pod(OLD) == {OLD_POD: NAMES}


def test_a_camera_broken_on_the_old_pod_too_is_not_waited_for(replan: PlanFn) -> None:
    step = _handing_over(replan)
    broken = "room-101-2"
    old = _pod(*NAMES, healthy=[i for i in _all(*NAMES) if i != broken])
    new = _pod(*NAMES, healthy=[i for i in _all(*NAMES) if i != broken])
    done = replan(ROOMS, [pool(NEW)], _after(step, {OLD_POD: old, NEW_POD: new}))
    assert done.handovers == ()
    # Healthy on the old pod only: the new pod must bring it up first.
    new = _pod(*NAMES, healthy=[i for i in _all(*NAMES) if i != "room-101-1"])
    held = replan(ROOMS, [pool(NEW)], _after(step, {OLD_POD: old, NEW_POD: new}))
    assert [(h.room, h.waiting_for) for h in held.handovers] == [("room-101", ("room-101-1",))]


def test_an_old_pod_that_does_not_answer_waits_for_every_stream(replan: PlanFn) -> None:
    step = _handing_over(replan)
    silent = PodState(ready=True, serving=None, healthy=None)
    new = _pod(*NAMES, healthy=_all("room-102"))
    held = replan(ROOMS, [pool(NEW)], _after(step, {OLD_POD: silent, NEW_POD: new}))
    assert [(h.room, h.waiting_for) for h in held.handovers] == \
        [("room-101", tuple(_all("room-101")))]


def test_a_copy_on_a_pod_that_is_not_ready_goes_at_once(replan: PlanFn) -> None:
    step = _handing_over(replan)
    pods = {OLD_POD: PodState(ready=False), NEW_POD: _pod(*NAMES)}
    gone = replan(ROOMS, [pool(NEW)], _after(step, pods))
    assert gone.handovers == () and gone.rooms_by_pod(OLD) == {}
    assert gone.remove == (OLD,)


def test_a_room_listed_twice_without_a_record_is_handed_over_from_now(replan: PlanFn) -> None:
    # The operator stopped between writing the new pool's file and the old pool's record.
    stored = {name: NEW_POD for name in NAMES}
    copies: dict[str, dict[PodRef, float | None]] = {name: {OLD_POD: None} for name in NAMES}
    pods = {OLD_POD: _pod(*NAMES, healthy=_all(*NAMES)), NEW_POD: _pod(*NAMES)}
    world = Observed(stored=stored, pods=pods, replicas={OLD: 1, NEW: 1}, copies=copies)
    result = replan(ROOMS, [pool(NEW)], world, now=NOW + 42)
    assert [(h.room, h.source, h.since) for h in result.handovers] == \
        [(name, OLD_POD, NOW + 42) for name in NAMES]


def test_rooms_added_or_kept_in_place_are_never_handed_over(replan: PlanFn) -> None:
    first = replan(ROOMS, [pool(NEW)])
    assert first.handovers == ()
    pods = {NEW_POD: _pod(*NAMES, healthy=_all(*NAMES))}
    world = Observed(stored=dict(first.assigned), pods=pods, replicas={NEW: 1})
    more = [*ROOMS, students("room-103", 1)]
    again = replan(more, [pool(NEW)], world)
    assert again.handovers == () and set(again.assigned) == {*NAMES, "room-103"}

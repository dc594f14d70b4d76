"""A classroom no single pod can take: status names the room, its load and one pod's capacity,
and the fixes that help, never more replicas (a room is never split across pods)."""

from __future__ import annotations

import pytest
from classroom_operator.rollout.capacity import room_too_large
from classroom_operator.rollout.classrooms import Room, Selection
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, Stream
from classroom_operator.spec.pod_settings import PodSettings
from unit.pool_rollout.test_rollout_plan import A100, Rollouts, _record, _view
from unit.pool_rollout.world import World

CAMERA = Stream("rtsp://cams.lan/room-7", "room")


@pytest.fixture
def rollout(spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> Rollouts:
    return Rollouts(spec, pod_settings, settings)


def _rolled_out(rollout: Rollouts, room: Room) -> tuple[str, str, str]:
    """RolledOut once the room's pod serves it (the engine measured 1000 crops/s; 30 fps)."""
    records, view, selection = [_record(A100)], _view(A100), Selection((room,))
    world = World()
    world.apply(rollout(world, records, view, selection=selection))
    world.start(*world.pools)
    world.read_assignments()
    condition = rollout(world, records, view, selection=selection).conditions[0]
    return condition.status, condition.reason, condition.message


def test_one_room_camera_without_seats_is_named_not_read_as_too_few_pods(
        rollout: Rollouts) -> None:
    status, reason, message = _rolled_out(rollout, Room("room-7", (CAMERA,)))
    assert (status, reason) == ("True", "ClassroomTooLarge")
    assert "replicas.max" not in message
    assert message == (
        "1 pods ready in 1 pools serve 1 classrooms. classroom room-7 needs 900 crops/s "
        "(1 room camera x 30 faces assumed (its seats are not declared) = 30 faces a frame x "
        "30 fps), more than one pod takes (700 crops/s, 70% of the engine's measured 1000); a "
        "classroom is never split across pods, so more replicas do not help: lower "
        "spec.serving.targetFps (23 fits), or use a faster engine (spec.engine.precision fp16 "
        "or int8, or faster GPUs), or declare the room's real seats (seats of "
        "spec.classrooms[], or the Classroom's spec.seats)")


def test_the_rooms_real_seats_size_it(rollout: Rollouts) -> None:
    assert _rolled_out(rollout, Room("room-7", (CAMERA,), seats=20))[:2] == ("True", "RolledOut")


def test_declared_seats_leave_the_other_fixes() -> None:
    room = Room("room-8", (CAMERA, CAMERA, Stream("rtsp://cams.lan/desk", "per-student")),
                seats=40)
    message = room_too_large(room, 15, 700.0)
    assert message.startswith(
        "classroom room-8 needs 1215 crops/s (1 per-student streams + 2 room cameras x 40 seats "
        "= 81 faces a frame x 15 fps), more than one pod takes (700 crops/s")
    assert "(8 fits)" in message
    assert "declare" not in message

"""Which rooms a model serves (inline, or Classrooms its selector picks) and their load."""

from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.rollout.classrooms import (
    ClassroomResource,
    Room,
    classroom_from_resource,
    parse_selector,
    select_rooms,
)
from classroom_operator.spec import SpecError, Stream, parse_spec

MODEL = {"uri": "https://models.example.org/a.onnx", "sha256": "b" * 64,
         "outputs": {"attention": "att"}}


def _resource(name: str, labels: dict[str, str], **spec: Any) -> ClassroomResource:
    body = {"streams": [{"url": f"rtsp://cams.lan/{name}"}], **spec}
    return classroom_from_resource(name, labels, body)


def test_per_student_streams_give_one_crop_per_frame_each() -> None:
    room = Room("r", tuple(Stream(f"rtsp://c/{i}", "per-student") for i in range(12)))
    assert room.crops_per_frame == 12


def test_a_room_camera_gives_its_seats_or_a_typical_class() -> None:
    camera = Stream("rtsp://c/room", "room")
    assert Room("r", (camera,), seats=24).crops_per_frame == 24
    assert Room("r", (camera, camera)).crops_per_frame == 60
    assert Room("r", (camera, Stream("rtsp://c/s", "per-student")), seats=20).crops_per_frame \
        == 21
    # Each room camera may see every seat: sizing counts the room's seats per camera.
    assert Room("r", (camera, camera), seats=24).crops_per_frame == 48


def test_inline_classrooms_bring_their_seats() -> None:
    spec = parse_spec({"model": MODEL, "classrooms": [
        {"name": "room-a", "seats": 12, "streams": [{"url": "rtsp://c/a", "layout": "room"}]},
        {"name": "room-b", "streams": [{"url": "rtsp://c/b", "layout": "room"}]}]})
    small, unknown = select_rooms(spec, []).rooms
    assert (small.seats, small.crops_per_frame) == (12, 12)
    assert (unknown.seats, unknown.crops_per_frame) == (None, 30)


def test_inline_classrooms_without_a_selector() -> None:
    spec = parse_spec({"model": MODEL, "classrooms": [
        {"name": "room-b", "streams": [{"url": "rtsp://c/b"}]},
        {"name": "room-a", "streams": [{"url": "rtsp://c/a", "layout": "room"}]}]})
    selection = select_rooms(spec, [_resource("room-z", {})])
    assert [room.name for room in selection.rooms] == ["room-a", "room-b"]
    assert selection.rooms[0].streams == (Stream("rtsp://c/a", "room"),)
    assert selection.problems == ()


def test_an_empty_selector_picks_every_classroom_of_the_namespace() -> None:
    spec = parse_spec({"model": MODEL, "classroomSelector": {}})
    selection = select_rooms(spec, [_resource("b", {}), _resource("a", {"grade": "5"})])
    assert [room.name for room in selection.rooms] == ["a", "b"]


def test_no_classrooms_and_no_selector_serves_nothing() -> None:
    assert select_rooms(parse_spec({"model": MODEL}), [_resource("a", {})]).rooms == ()


@pytest.mark.parametrize(("selector", "picked"), [
    ({"matchLabels": {"school": "lincoln"}}, ["l5", "l6", "l7"]),
    ({"matchLabels": {"school": "lincoln", "grade": "5"}}, ["l5"]),
    ({"matchExpressions": [{"key": "grade", "operator": "In", "values": ["5", "6"]}]},
     ["l5", "l6", "w5"]),
    ({"matchExpressions": [{"key": "grade", "operator": "NotIn", "values": ["5"]}]},
     ["l6", "l7", "x"]),
    ({"matchExpressions": [{"key": "pilot", "operator": "Exists"}]}, ["l7"]),
    ({"matchExpressions": [{"key": "school", "operator": "DoesNotExist"}]}, ["x"]),
    ({"matchLabels": {"school": "lincoln"},
      "matchExpressions": [{"key": "pilot", "operator": "DoesNotExist"}]}, ["l5", "l6"]),
])
def test_selectors_pick_as_kubernetes_does(selector: dict[str, Any], picked: list[str]) -> None:
    resources = [
        _resource("l5", {"school": "lincoln", "grade": "5"}),
        _resource("l6", {"school": "lincoln", "grade": "6"}),
        _resource("l7", {"school": "lincoln", "grade": "7", "pilot": "yes"}),
        _resource("w5", {"school": "washington", "grade": "5"}),
        _resource("x", {}),
    ]
    spec = parse_spec({"model": MODEL, "classroomSelector": selector})
    assert [room.name for room in select_rooms(spec, resources).rooms] == picked


def test_seats_of_a_classroom_resource_size_its_room_camera() -> None:
    resource = classroom_from_resource(
        "room-9", {}, {"streams": [{"url": "rtsp://c/9", "layout": "room"}], "seats": 18})
    assert resource.room is not None
    assert resource.room.crops_per_frame == 18


@pytest.mark.parametrize(("spec", "problem"), [
    ({"streams": []}, "spec.streams lists no stream"),
    ({"streams": [{"url": "gopher://c/1"}]}, "spec.streams[0].url"),
    ({"streams": [{"url": "rtsp://c/1", "layout": "panorama"}]}, "spec.streams[0].layout"),
])
def test_an_unusable_classroom_is_set_aside_with_its_reason(spec: dict[str, Any],
                                                             problem: str) -> None:
    good = _resource("room-1", {"school": "lincoln"})
    bad = classroom_from_resource("room-2", {"school": "lincoln"}, spec)
    model = parse_spec({"model": MODEL, "classroomSelector": {"matchLabels": {"school":
                                                                              "lincoln"}}})
    selection = select_rooms(model, [good, bad])
    assert [room.name for room in selection.rooms] == ["room-1"]
    (reported,) = selection.problems
    assert reported.startswith("room-2: ") and problem in reported


@pytest.mark.parametrize(("selector", "field"), [
    ({"matchLabels": {"grade": 5}}, "spec.classroomSelector.matchLabels"),
    ({"matchExpressions": [{"key": "g", "operator": "Near"}]},
     "spec.classroomSelector.matchExpressions[0].operator"),
    ({"matchExpressions": [{"key": "g", "operator": "In"}]},
     "spec.classroomSelector.matchExpressions[0].values"),
    ({"matchExpressions": [{"key": "g", "operator": "Exists", "values": ["x"]}]},
     "spec.classroomSelector.matchExpressions[0].values"),
    ({"matchExpressions": {"key": "g"}}, "spec.classroomSelector.matchExpressions"),
])
def test_a_bad_selector_names_the_field(selector: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_selector(selector)
    assert caught.value.field == field

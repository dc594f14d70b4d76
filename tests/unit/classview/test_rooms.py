"""Which classrooms exist and which pods serve each, from the API's objects."""

from __future__ import annotations

import json
from typing import Any

from classroom_operator.classview.rooms import RoomRef, ServingPod, rooms_from, serving_pods


def model(name: str, rooms: list[str], namespace: str = "school") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "spec": {"classrooms": [{"name": r, "streams": []} for r in rooms]}}


def classroom(name: str, served_by: str | None, namespace: str = "school") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace},
            "status": {"model": served_by} if served_by else {}}


def configmap(pods: dict[str, list[str]], namespace: str = "school") -> dict[str, Any]:
    document = {"model": f"{namespace}/attention",
                "pods": {p: [{"name": r, "streams": []} for r in rooms]
                         for p, rooms in pods.items()}}
    return {"metadata": {"namespace": namespace, "name": "pool"},
            "data": {"assignment.json": json.dumps(document)}}


def pod(name: str, ip: str | None, uid: str = "u1", deleting: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "school", "uid": uid}
    if deleting:
        meta["deletionTimestamp"] = "2026-12-07T09:00:00Z"
    return {"metadata": meta, "status": {"podIP": ip} if ip else {}}


def test_inline_rooms_are_checked_against_their_model_and_classrooms_against_themselves() -> None:
    rooms = rooms_from([model("attention", ["room-101"])],
                       [classroom("room-201", "school/attention"), classroom("room-301", None),
                        classroom("room-401", None, namespace="other")],
                       [configmap({"web-0": ["room-301"]})])
    assert sorted(rooms) == ["other/room-401", "school/room-101", "school/room-201",
                             "school/room-301"]
    # the model, for the page: from the Classroom's status, else the file that assigns it
    assert [rooms[k].model for k in sorted(rooms)] == ["", "attention", "attention", "attention"]
    assert rooms["school/room-101"].resource_attributes() == {
        "group": "classroom-operator.io", "resource": "classroommodels", "verb": "get",
        "namespace": "school", "name": "attention"}
    assert rooms["school/room-201"].resource_attributes()["resource"] == "classrooms"
    assert rooms["school/room-201"].resource_attributes()["name"] == "room-201"


def test_a_room_handed_over_is_served_by_both_pods_until_the_old_one_lets_go() -> None:
    pods = [pod("old-0", "127.0.1.1"), pod("new-0", "127.0.1.2", uid="u2")]
    during = serving_pods([configmap({"old-0": ["room-101"]}),
                           configmap({"new-0": ["room-101", "room-102"]})], pods)
    assert [p.name for p in during["school/room-101"]] == ["new-0", "old-0"]
    after = serving_pods([configmap({"old-0": []}), configmap({"new-0": ["room-101"]})], pods)
    assert after["school/room-101"] == [ServingPod("school", "new-0", "127.0.1.2", "u2")]


def test_pods_without_an_ip_or_being_deleted_and_broken_files_are_skipped() -> None:
    broken = {"metadata": {"namespace": "school"}, "data": {"assignment.json": "{nope"}}
    served = serving_pods(
        [broken, configmap({"a-0": ["room-101"], "b-0": ["room-101"], "c-0": ["room-101"]})],
        [pod("a-0", None), pod("b-0", "127.0.1.3", deleting=True), pod("c-0", "127.0.1.4")])
    assert [p.name for p in served["school/room-101"]] == ["c-0"]


def test_room_keys_name_the_namespace() -> None:
    assert RoomRef("school", "room-101", "attention", inline=True).key == "school/room-101"

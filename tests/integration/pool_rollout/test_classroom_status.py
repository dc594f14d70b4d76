"""A Classroom selected by a model tells school IT which model and pod serve it and how its
streams are (its status subresource, written by the operator), and a room the model stops
selecting says so."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.operator_harness import OperatorProcess, apply, wait_for
from integration.pool_rollout.kit import Media, manifest, ready_pods, serving
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import l4

TIMEOUT = 240
ROOMS = "/apis/classroom-operator.io/v1alpha1/namespaces/{namespace}/classrooms"


def _classroom(media: Media, name: str, school: str, streams: int = 1) -> dict[str, Any]:
    return {"apiVersion": "classroom-operator.io/v1alpha1", "kind": "Classroom",
            "metadata": {"name": name, "labels": {"school": school}},
            # Admission wants distinct URLs per room: the same looping video, paced as always.
            "spec": {"streams": [{"url": media.video + "&realtime=1" * index}
                                 for index in range(streams)], "seats": 2}}


def _room(api: Api, pool: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"{ROOMS.format(namespace=pool)}/{name}")
    return found


def test_a_selected_classroom_names_its_pod_and_counts_its_streams(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, media: Media) -> None:
    nodes(l4(f"{pool[:20]}-l4"))
    apply(cluster, pool, [_classroom(media, "room-1", "lincoln", streams=2),
                          _classroom(media, "room-9", "washington"),
                          manifest(media, "attention", pool,
                                   classroomSelector={"matchLabels": {"school": "lincoln"}})])
    wait_for(lambda: serving(api, pool, "attention", 2), "2 healthy streams", timeout=TIMEOUT)

    def served() -> dict[str, Any] | None:
        room = _room(api, pool, "room-1")
        status = room.get("status") or {}
        return room if status.get("streams") == {"assigned": 2, "healthy": 2} else None

    room = wait_for(served, "room-1's status: 2 of 2 streams healthy", timeout=60,
                    show=lambda: _room(api, pool, "room-1").get("status"))
    status = room["status"]
    (pod,) = ready_pods(api, pool)
    assert (status["model"], status["pod"]) == (f"{pool}/attention", pod)
    assert status["observedGeneration"] == room["metadata"]["generation"]
    assert status["summary"] == {"streams": "2/2"}
    assert [s["id"] for s in status["streamStatuses"]] == ["room-1-0", "room-1-1"]
    assert {s["state"] for s in status["streamStatuses"]} == {"Healthy"}
    assert {c["type"]: c["status"] for c in status["conditions"]} == {
        "Assigned": "True", "StreamsHealthy": "True"}
    # kubectl's columns show it too.
    columns = cluster.kubectl("get", "room", "room-1", "-n", pool, "--no-headers").stdout
    assert pod in columns and "2/2" in columns
    # A room the model does not select is not written.
    assert "status" not in _room(api, pool, "room-9") or \
        not _room(api, pool, "room-9")["status"].get("model")

    # Patched only when it changes: passes every few seconds leave a steady room alone.
    version = _room(api, pool, "room-1")["metadata"]["resourceVersion"]
    time.sleep(12)
    assert _room(api, pool, "room-1")["metadata"]["resourceVersion"] == version

    # School IT relabels the room: the model lets it go and its status says so.
    cluster.kubectl("label", "room", "room-1", "-n", pool, "school=washington",
                    "--overwrite")

    def released() -> dict[str, Any] | None:
        status = _room(api, pool, "room-1").get("status") or {}
        return status if status.get("model") == "" else None

    status = wait_for(released, "room-1 released", timeout=60)
    assigned = next(c for c in status["conditions"] if c["type"] == "Assigned")
    assert (assigned["status"], assigned["reason"]) == ("False", "NotSelected")
    assert status["pod"] == "" and status["streams"] == {"assigned": 0, "healthy": 0}

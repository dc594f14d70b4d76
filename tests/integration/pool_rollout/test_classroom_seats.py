"""Seats of an inline classroom: the API server accepts them, the operator sizes the room from
them, and a room too large for one pod is named with its load and the fixes, not read as too
few replicas."""

from __future__ import annotations

from collections.abc import Callable

from bench.operator_harness import OperatorProcess, apply, condition, model_manifest, wait_for
from integration.pool_rollout.kit import Media, Object, stream_status
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100

CAMERAS = 4
SEATS = 500
FPS = 120
LOAD = CAMERAS * SEATS * FPS  # crops/s the hall's cameras may give


def test_an_inline_classrooms_seats_are_accepted_and_size_it(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, media: Media) -> None:
    nodes(a100(f"{pool[:20]}-a100"))
    hall = {"name": "hall", "seats": SEATS, "streams": [
        {"url": f"{media.video}&camera={index}", "layout": "room"} for index in range(CAMERAS)]}
    apply(cluster, pool, [model_manifest("attention", pool, model=media.model,
                                         serving={"targetFps": FPS}, classrooms=[hall])])
    stored = api.get(f"/apis/classroom-operator.io/v1alpha1/namespaces/{pool}/"
                     "classroommodels/attention")
    assert stored["spec"]["classrooms"][0]["seats"] == SEATS

    def sized() -> Object | None:
        status = stream_status(api, pool, "attention")
        rolled = condition({"status": status}, "RolledOut")
        return status if rolled.get("reason") == "ClassroomTooLarge" else None

    status = wait_for(sized, "RolledOut naming the hall as too large for a pod", timeout=240,
                      show=lambda: stream_status(api, pool, "attention").get("conditions"))
    (engine,) = status["engines"]
    measured = engine["throughput"]["cropsPerSecond"]
    assert 0.7 * measured < LOAD, f"the engine measured {measured} crops/s: raise the hall's load"
    message = condition({"status": status}, "RolledOut")["message"]
    assert (f"classroom hall needs {LOAD} crops/s ({CAMERAS} room cameras x {SEATS} seats = "
            f"{CAMERAS * SEATS} faces a frame x {FPS} fps)") in message
    assert f"of the engine's measured {measured:.0f})" in message
    assert "lower spec.serving.targetFps" in message and "replicas.max" not in message
    assert "declare the room's real seats" not in message  # they are declared
    # One pod serves the hall: more would not help, as a room is never split across pods.
    assert status["podsWanted"] == 1

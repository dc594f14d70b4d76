"""Inference pools on a real control plane: pods built from the validated engine run for real
on agent nodes, every classroom is served by exactly one Ready pod, new classrooms are added
without touching the others, and a driver upgrade rolls a pool over with every classroom's
streams Healthy on some pod throughout."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Callable

from bench.operator_harness import OperatorProcess, apply, wait_for
from integration.pool_rollout.kit import (
    Media,
    Object,
    Watcher,
    assignments,
    manifest,
    ready_pods,
    room,
    serving,
    statefulsets,
    status_request,
    stream_status,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100, driver_labels, l4

TIMEOUT = 240  # two builds, then pods that load an engine and open their streams


def test_two_classrooms_on_two_gpu_classes(cluster: LocalCluster, api: Api, pool: str,
                                           nodes: Callable[..., list[str]],
                                           operator: OperatorProcess, media: Media) -> None:
    nodes(a100(f"{pool[:20]}-a100"), l4(f"{pool[:20]}-l4"))
    apply(cluster, pool, [manifest(media, "attention", pool, classrooms=[
        room(media, "room-101", streams=2), room(media, "room-102")])])

    status = wait_for(lambda: serving(api, pool, "attention", 3), "3 healthy streams",
                      timeout=TIMEOUT)
    assert status["summary"]["pods"] == "2/2" and status["summary"]["streams"] == "3/3"
    assert status["podsReady"] == status["podsWanted"] == 2
    pools = status["pools"]
    assert {p["gpuClass"] for p in pools} == {"nvidia-a100-sxm4-80gb-sm80-drv550",
                                              "nvidia-l4-sm89-drv550"}
    assert {p["engine"] for p in pools} == {e["fingerprint"] for e in status["engines"]}
    # How the rooms split follows each engine's measured throughput; each is served once.
    assert sum(p["streamsAssigned"] for p in pools) == 3
    assert all(p["readyReplicas"] == p["replicas"] == 1 and p["nodes"] == 1 for p in pools)

    sets = statefulsets(api, pool)
    assert len(sets) == 2
    for item in sets.values():
        assert item["spec"]["podManagementPolicy"] == "Parallel"
        assert item["metadata"]["ownerReferences"][0]["name"] == "attention"
    files = assignments(api, pool)
    assert sorted(files) == ["room-101", "room-102"]
    assert all(len(pods) == 1 for pods in files.values()), files
    pods = ready_pods(api, pool)
    for name, (pod,) in files.items():
        # The pod itself says it serves the room, every stream healthy.
        ip = pods[pod]["status"]["podIP"]
        with urllib.request.urlopen(status_request(api, pool, ip), timeout=5) as response:
            document = json.load(response)
        (served,) = [c for c in document["classrooms"] if c["name"] == name]
        assert {s["state"] for s in served["streams"]} == {"Healthy"}
        assert len(served["streams"]) == (2 if name == "room-101" else 1)


def test_a_new_classroom_is_assigned_without_touching_the_others(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, media: Media) -> None:
    nodes(l4(f"{pool[:20]}-l4"))

    def classroom(name: str, school: str) -> dict[str, object]:
        return {"apiVersion": "classroom-operator.io/v1alpha1", "kind": "Classroom",
                "metadata": {"name": name, "labels": {"school": school}},
                "spec": {"streams": [{"url": media.video}], "seats": 1}}

    apply(cluster, pool, [classroom("room-1", "lincoln"), classroom("room-2", "lincoln"),
                          classroom("room-9", "washington"),
                          manifest(media, "attention", pool,
                                   classroomSelector={"matchLabels": {"school": "lincoln"}})])
    wait_for(lambda: serving(api, pool, "attention", 2), "2 healthy streams", timeout=TIMEOUT)
    before = assignments(api, pool)
    assert sorted(before) == ["room-1", "room-2"]
    uids = {name: pod["metadata"]["uid"] for name, pod in ready_pods(api, pool).items()}
    (statefulset,) = statefulsets(api, pool).values()

    apply(cluster, pool, [classroom("room-3", "lincoln")])
    wait_for(lambda: serving(api, pool, "attention", 3), "3 healthy streams", timeout=120)
    after = assignments(api, pool)
    assert sorted(after) == ["room-1", "room-2", "room-3"]
    assert {name: after[name] for name in before} == before
    assert {name: pod["metadata"]["uid"] for name, pod in ready_pods(api, pool).items()} == uids
    (again,) = statefulsets(api, pool).values()
    assert again["metadata"]["generation"] == statefulset["metadata"]["generation"]


def test_a_driver_upgrade_rolls_the_pool_over_with_every_classroom_served(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, media: Media) -> None:
    # Two GPUs on the node: the new pool's pod starts beside the old one before it goes.
    (node,) = nodes(a100(f"{pool[:20]}-a100", count=2))
    rooms = ("room-101", "room-102", "room-103")
    apply(cluster, pool, [manifest(media, "attention", pool,
                                   classrooms=[room(media, name) for name in rooms])])
    before = wait_for(lambda: serving(api, pool, "attention", 3), "3 healthy streams",
                      timeout=TIMEOUT)
    (old_engine,) = before["engines"]
    (old_pool,) = statefulsets(api, pool)
    assert {pods[0] for pods in assignments(api, pool).values()} == {f"{old_pool}-0"}

    with Watcher(api, pool, rooms) as watcher:
        cluster.relabel_node(node, driver_labels("580.65.06"))

        def rolled_over() -> Object | None:
            status = serving(api, pool, "attention", 3)
            if status is None or set(statefulsets(api, pool)) == {old_pool}:
                return None
            engines = [e["gpuClass"] for e in status["engines"]]
            return status if engines == ["nvidia-a100-sxm4-80gb-sm80-drv580"] and \
                len(statefulsets(api, pool)) == 1 else None

        after = wait_for(rolled_over, "the pool rolled over to driver 580", timeout=TIMEOUT)
    assert watcher.looks > 20, watcher.looks
    assert watcher.violations == [], watcher.violations[:5]
    # No gap: at every look some Ready pod reported every stream of every classroom Healthy,
    # because a room stayed on its old pod until the new one had connected its cameras.
    assert watcher.unserved == [], watcher.unserved[:5]
    assert watcher.overlaps > 0, "no look saw a classroom listed on its old and new pod"
    # The watcher saw the old and the new pool side by side before the old one went.
    assert any(len(seen) == 2 for seen in watcher.pools_seen), watcher.pools_seen

    (new_engine,) = after["engines"]
    assert new_engine["fingerprint"] != old_engine["fingerprint"]
    (new_pool,) = statefulsets(api, pool)
    assert new_pool != old_pool and new_pool.endswith(new_engine["fingerprint"][:8])
    # The old pool's ConfigMap recorded each hand-over, naming the room's new pod.
    assert watcher.handed_to == {(name, f"{new_pool}-0") for name in rooms}, watcher.handed_to
    files = assignments(api, pool)
    assert files == {name: [f"{new_pool}-0"] for name in rooms}
    assert stream_status(api, pool, "attention")["summary"]["pods"] == "1/1"

    # The operator's /metrics tell the same story, per model.
    samples = operator.metrics()
    labels = f'{{model="attention",namespace="{pool}"}}'
    figures = {name: samples.get(f"classroom_operator_{name}{labels}") for name in (
        "classrooms_moved_total", "handovers_in_progress", "pools", "pods_wanted",
        "pods_ready", "streams_assigned", "streams_healthy")}
    assert figures == {"classrooms_moved_total": 3, "handovers_in_progress": 0, "pools": 1,
                       "pods_wanted": 1, "pods_ready": 1, "streams_assigned": 3,
                       "streams_healthy": 3}, figures

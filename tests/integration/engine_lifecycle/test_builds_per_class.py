"""One build Job per engine fingerprint: per GPU class across many nodes, once for identical
nodes, and once for two ClassroomModels asking for the same engine. Nodes are kwok's, where a
Job's pod completes without running (the build's outcome is not the point here)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from bench.operator_harness import (
    JobRecorder,
    OperatorProcess,
    apply,
    condition,
    converged,
    jobs,
    model,
    model_manifest,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100, h100, l4

SETTLE = 3.0  # seconds to watch for a surplus Job after the expected ones appeared


def _ready(api: Api, namespace: str, name: str, engines: int) -> dict[str, Any] | None:
    found = model(api, namespace, name)
    status = (found or {}).get("status") or {}
    if converged(found) and status.get("enginesNeeded") == engines and \
            status.get("enginesReady") == engines:
        return found
    return None


def test_three_classes_across_twelve_nodes_build_three_engines(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(*[make(f"{stem}-{kind}-{i}", runner="kwok")
            for kind, make in (("a100", a100), ("h100", h100), ("l4", l4)) for i in range(4)])
    operator()
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool)])

    found = wait_for(lambda: _ready(api, pool, "attention", 3), "3 engines ready")
    time.sleep(SETTLE)
    recorder.close()
    builds = recorder.builds()
    assert len(builds) == 3, builds
    assert all(len(uids) == 1 for uids in builds.values()), builds
    classes = {job["metadata"]["labels"]["classroom-operator.io/gpu-class"]
               for job in jobs(api, pool) if job["metadata"]["name"] in builds}
    assert classes == {"nvidia-a100-sxm4-80gb-sm80-drv550", "nvidia-h100-80gb-hbm3-sm90-drv550",
                       "nvidia-l4-sm89-drv550"}
    engines = found["status"]["engines"]
    assert {e["gpuClass"] for e in engines} == classes
    assert {f"engine-build-{e['fingerprint']}" for e in engines} == set(builds)
    assert condition(found, "EnginesReady")["status"] == "True"
    assert found["status"]["phase"] == "Ready"
    assert found["status"]["summary"]["engines"] == "3/3"


def test_ten_identical_nodes_build_one_engine(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(*[a100(f"{stem}-a100-{i}", runner="kwok") for i in range(10)])
    operator()
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool)])
    wait_for(lambda: _ready(api, pool, "attention", 1), "1 engine ready")
    time.sleep(SETTLE)
    recorder.close()
    assert len(recorder.builds()) == 1


def test_two_models_with_the_same_settings_share_one_build(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(*[l4(f"{stem}-l4-{i}", runner="kwok") for i in range(2)])
    running = operator()
    recorder = JobRecorder(api, pool)
    # Different serving and analysis settings do not change the engine.
    apply(cluster, pool, [model_manifest("grade-5", pool),
                          model_manifest("grade-6", pool, serving={"targetFps": 10},
                                         analysis={"distractedAfterSeconds": 45})])
    first = wait_for(lambda: _ready(api, pool, "grade-5", 1), "grade-5 ready")
    second = wait_for(lambda: _ready(api, pool, "grade-6", 1), "grade-6 ready")
    time.sleep(SETTLE)
    recorder.close()
    assert len(recorder.builds()) == 1
    assert first["status"]["engines"][0]["fingerprint"] == \
        second["status"]["engines"][0]["fingerprint"]
    assert running.metrics()["classroom_operator_engines_ready"] >= 2  # one per model

"""GPU and driver changes: the needed engines are recomputed from node labels within seconds,
exactly the missing ones are built, untouched classes are not rebuilt, and a node in the middle
of a driver upgrade is waited for, then acted on once."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.operator_harness import (
    JobRecorder,
    OperatorProcess,
    apply,
    converged,
    model,
    model_manifest,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100, driver_labels, h100, l4

UPGRADE_STATE = "nvidia.com/gpu-driver-upgrade-state"
QUIET = 3.0  # seconds during which nothing may be built


def _engines_ready(api: Api, namespace: str, name: str, count: int) -> bool:
    found = model(api, namespace, name)
    status = (found or {}).get("status") or {}
    return converged(found) and status.get("enginesReady") == count == status.get("enginesNeeded")


def _gpu_classes(api: Api, namespace: str, name: str) -> set[str]:
    found = model(api, namespace, name) or {}
    return {e["gpuClass"] for e in (found.get("status") or {}).get("engines", [])}


def test_driver_upgrade_and_gpu_swap_build_exactly_the_missing_engines(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(*[a100(f"{stem}-a100-{i}", runner="kwok") for i in range(3)],
          *[l4(f"{stem}-l4-{i}", runner="kwok") for i in range(2)])
    operator()
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool)])
    wait_for(lambda: _engines_ready(api, pool, "attention", 2), "the first 2 engines")
    before = recorder.builds()
    assert len(before) == 2

    started = time.monotonic()
    cluster.relabel_node(f"{stem}-a100-0", driver_labels("580.65.06"))
    cluster.swap_gpu(f"{stem}-a100-1", h100(f"{stem}-a100-1", runner="kwok"))
    wait_for(lambda: len(recorder.builds()) == 4, "2 new build Jobs", timeout=30, every=0.02)
    new = set(recorder.builds()) - set(before)
    elapsed = max(recorder.created_at[name] for name in new) - started
    print(f"\nnew build Jobs created {elapsed:.2f}s after the relabels")
    assert elapsed < 5.0, f"the missing engines' Jobs took {elapsed:.2f}s"

    wait_for(lambda: _engines_ready(api, pool, "attention", 4), "all 4 engines")
    time.sleep(QUIET)
    recorder.close()
    builds = recorder.builds()
    # The A100 driver 550 and L4 engines were neither rebuilt nor replaced: same Jobs, same uid.
    assert {name: builds[name] for name in before} == before
    assert len(builds) == 4 and all(len(uids) == 1 for uids in builds.values())
    assert _gpu_classes(api, pool, "attention") == {
        "nvidia-a100-sxm4-80gb-sm80-drv550", "nvidia-a100-sxm4-80gb-sm80-drv580",
        "nvidia-h100-80gb-hbm3-sm90-drv550", "nvidia-l4-sm89-drv550"}


def test_driver_upgrade_in_progress_is_waited_for_then_acted_on_once(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    node = f"{stem}-a100-0"
    nodes(a100(node, runner="kwok"))
    operator()
    recorder = JobRecorder(api, pool)
    apply(cluster, pool, [model_manifest("attention", pool)])
    wait_for(lambda: _engines_ready(api, pool, "attention", 1), "the first engine")

    # The GPU Operator walks the node through its upgrade; GFD labels flap meanwhile.
    cluster.relabel_node(node, {UPGRADE_STATE: "cordon-required"})
    cluster.relabel_node(node, {UPGRADE_STATE: "pod-restart-required",
                                "nvidia.com/cuda.driver-version.major": None,
                                "nvidia.com/cuda.driver.major": None})
    cluster.relabel_node(node, {**driver_labels("575.51.03"),
                                UPGRADE_STATE: "validation-required"})
    cluster.relabel_node(node, driver_labels("580.65.06"))
    time.sleep(QUIET)
    assert len(recorder.builds()) == 1, "built while the driver upgrade was in progress"
    waiting = model(api, pool, "attention")
    assert waiting is not None
    assert _gpu_classes(api, pool, "attention") == {"nvidia-a100-sxm4-80gb-sm80-drv550"}
    engines_ready = next(c for c in waiting["status"]["conditions"]
                         if c["type"] == "EnginesReady")
    assert node in engines_ready["message"]

    cluster.relabel_node(node, {UPGRADE_STATE: "upgrade-done"})
    wait_for(lambda: len(recorder.builds()) == 2, "the driver 580 engine's Job")
    wait_for(lambda: _gpu_classes(api, pool, "attention") ==
             {"nvidia-a100-sxm4-80gb-sm80-drv580"}, "the 550 engine released")
    time.sleep(QUIET)
    recorder.close()
    # Acted on once: the 575 driver seen mid-upgrade never got a build.
    assert len(recorder.builds()) == 2

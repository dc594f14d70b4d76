"""GPU nodes carry GPU Feature Discovery's labels and `nvidia.com/gpu` capacity, and a GPU swap
or driver upgrade shows in the API as GFD would write it."""

from __future__ import annotations

from typing import Any

from localcluster.cluster import LocalCluster
from localcluster.nodes import a100, l4


def test_default_nodes_are_two_gpu_classes_run_by_the_agent(cluster: LocalCluster,
                                                           get: Any) -> None:
    assert {"gpu-a100-0", "gpu-l4-0"} <= set(cluster.agent_nodes)
    a100_node, l4_node = get("node", "gpu-a100-0"), get("node", "gpu-l4-0")
    assert a100_node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"
    assert a100_node["metadata"]["labels"]["nvidia.com/gpu.compute.major"] == "8"
    assert l4_node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert l4_node["metadata"]["labels"]["nvidia.com/gpu.compute.minor"] == "9"
    for node in (a100_node, l4_node):
        labels = node["metadata"]["labels"]
        assert labels["nvidia.com/cuda.driver-version.major"] == "550"
        assert labels["nvidia.com/cuda.driver.major"] == "550"
        assert node["status"]["capacity"]["nvidia.com/gpu"] == "2"
        assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})


def test_driver_upgrade_and_gpu_swap_show_in_the_api(cluster: LocalCluster, extra_nodes: Any,
                                                     wait: Any, get: Any) -> None:
    extra_nodes(a100("gpu-swap-0"))
    before = get("node", "gpu-swap-0")["metadata"]["labels"]
    assert before["nvidia.com/gpu.family"] == "ampere"

    cluster.swap_gpu("gpu-swap-0", a100("gpu-swap-0", driver="570.86.15"))
    labels = get("node", "gpu-swap-0")["metadata"]["labels"]
    assert labels["nvidia.com/cuda.driver-version.full"] == "570.86.15"
    assert labels["nvidia.com/cuda.driver.rev"] == "15"
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-A100-SXM4-80GB"

    cluster.swap_gpu("gpu-swap-0", l4("gpu-swap-0", count=2))
    node = wait(lambda: (n := get("node", "gpu-swap-0"))
                and n["status"]["capacity"].get("nvidia.com/gpu") == "2" and n,
                "the agent to report 2 GPUs")
    labels = node["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert labels["nvidia.com/gpu.family"] == "ada-lovelace"
    assert labels["nvidia.com/cuda.driver-version.major"] == "550"

    cluster.swap_gpu("gpu-swap-0", None)
    node = wait(lambda: (n := get("node", "gpu-swap-0"))
                and "nvidia.com/gpu" not in n["status"]["capacity"] and n,
                "the GPU capacity to go")
    assert not [k for k in node["metadata"]["labels"] if k.startswith("nvidia.com/")]


def test_relabel_sets_and_removes_labels(cluster: LocalCluster, extra_nodes: Any,
                                         get: Any) -> None:
    extra_nodes(l4("gpu-relabel-0"))
    cluster.relabel_node("gpu-relabel-0", {"nvidia.com/gpu.product": "NVIDIA-L40S",
                                           "nvidia.com/gfd.timestamp": None})
    labels = get("node", "gpu-relabel-0")["metadata"]["labels"]
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-L40S"
    assert "nvidia.com/gfd.timestamp" not in labels

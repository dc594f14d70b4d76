"""Simulated GPU nodes carry GPU Feature Discovery's labels; bad node descriptions are refused
with the field named; a GPU swap relabels as GFD would."""

from __future__ import annotations

import pytest
from localcluster.nodes import (
    GPU_RESOURCE,
    CpuNode,
    GpuNode,
    NodeSpec,
    a100,
    driver_labels,
    h100,
    l4,
    relabel_patch,
)


def test_driver_labels_new_and_older_names() -> None:
    assert driver_labels("550.54.15") == {
        "nvidia.com/cuda.driver-version.major": "550",
        "nvidia.com/cuda.driver-version.minor": "54",
        "nvidia.com/cuda.driver-version.revision": "15",
        "nvidia.com/cuda.driver-version.full": "550.54.15",
        "nvidia.com/cuda.driver.major": "550",
        "nvidia.com/cuda.driver.minor": "54",
        "nvidia.com/cuda.driver.rev": "15",
    }


@pytest.mark.parametrize("driver", ["550", "550.54", "r550.54.15", "550.54.15.1", ""])
def test_malformed_driver_is_refused_naming_the_field(driver: str) -> None:
    with pytest.raises(ValueError, match=r"driver: .* is not a driver version like '550\.54\.15'"):
        GpuNode("gpu-0", "NVIDIA-L4", driver=driver)


def test_product_with_spaces_is_refused() -> None:
    with pytest.raises(ValueError, match="product: 'NVIDIA L4' must be GFD's form"):
        GpuNode("gpu-0", "NVIDIA L4")


def test_zero_gpus_is_refused() -> None:
    with pytest.raises(ValueError, match="count: 0 must be at least 1"):
        l4("gpu-0", count=0)


def test_gfd_labels_of_an_h100() -> None:
    labels = h100("gpu-h100-0", driver="570.86.15", count=8).gfd_labels(timestamp=1700000000)
    assert labels["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert labels["nvidia.com/gpu.compute.major"] == "9"
    assert labels["nvidia.com/gpu.compute.minor"] == "0"
    assert labels["nvidia.com/gpu.count"] == "8"
    assert labels["nvidia.com/gpu.memory"] == "81559"
    assert labels["nvidia.com/gpu.family"] == "hopper"
    assert labels["nvidia.com/gfd.timestamp"] == "1700000000"
    assert labels["nvidia.com/cuda.driver-version.full"] == "570.86.15"


def test_gpu_node_spec_has_gpu_capacity_and_agent_annotation() -> None:
    manifest = a100("gpu-a100-0", count=4).spec().manifest()
    assert manifest["status"]["capacity"][GPU_RESOURCE] == "4"
    assert manifest["status"]["allocatable"][GPU_RESOURCE] == "4"
    assert manifest["metadata"]["labels"]["kubernetes.io/hostname"] == "gpu-a100-0"
    assert "kwok.x-k8s.io/node" not in manifest["metadata"]["annotations"]
    assert manifest["spec"] == {}


def test_kwok_node_is_annotated_and_tainted_for_kwok() -> None:
    manifest = l4("kwok-l4-0", runner="kwok").spec().manifest()
    assert manifest["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake"
    assert manifest["spec"]["taints"] == [
        {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}]
    untainted = l4("kwok-l4-1", runner="kwok", taints=()).spec().manifest()
    assert untainted["spec"] == {}


def test_cpu_node_has_no_gpu_labels_or_capacity() -> None:
    manifest = CpuNode("cpu-0").spec().manifest()
    assert not [k for k in manifest["metadata"]["labels"] if k.startswith("nvidia.com/")]
    assert GPU_RESOURCE not in manifest["status"]["capacity"]


def test_node_spec_round_trips_through_json() -> None:
    spec = NodeSpec("gpu-l4-0", l4("gpu-l4-0").gfd_labels(1), {"cpu": "4"}, "agent", [],
                    "127.41.0.3")
    assert NodeSpec.from_json(spec.to_json()) == spec


def test_swap_to_another_gpu_removes_labels_that_no_longer_apply() -> None:
    current = {**a100("n").gfd_labels(), "nvidia.com/mig.strategy": "single",
               "kubernetes.io/hostname": "n"}
    patch = relabel_patch(current, l4("n", driver="570.86.15"))
    assert patch["nvidia.com/gpu.product"] == "NVIDIA-L4"
    assert patch["nvidia.com/cuda.driver.major"] == "570"
    assert patch["nvidia.com/mig.strategy"] is None
    assert "kubernetes.io/hostname" not in patch


def test_swap_to_no_gpu_removes_every_gfd_label() -> None:
    current = {**a100("n").gfd_labels(), "team": "vision"}
    patch = relabel_patch(current, None)
    assert set(patch) == {k for k in current if k.startswith("nvidia.com/")}
    assert all(value is None for value in patch.values())

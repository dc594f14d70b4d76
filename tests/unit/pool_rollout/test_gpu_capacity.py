"""How many pods a GPU class can hold, from GPU Feature Discovery's labels."""

from __future__ import annotations

from classroom_operator.engines.inventory import GpuClass, InventoryView, NodeGpu, node_from_object
from classroom_operator.rollout.capacity import gpus_by_class

A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
GFD = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.compute.major": "8",
       "nvidia.com/gpu.compute.minor": "0", "nvidia.com/cuda.driver-version.major": "550"}


def _node(name: str, **labels: str) -> NodeGpu:
    return node_from_object(name, {**GFD, **labels}, {}, {})


def test_gpus_of_every_node_in_the_class_times_time_slicing() -> None:
    view = InventoryView(classes={A100.name: A100, "cpu": GpuClass()},
                         nodes_by_class={A100.name: ("a", "b"), "cpu": ("c",)})
    nodes = [_node("a", **{"nvidia.com/gpu.count": "8"}),
             _node("b", **{"nvidia.com/gpu.count": "2", "nvidia.com/gpu.replicas": "4"}),
             node_from_object("c", {}, {}, {})]
    assert gpus_by_class(view, nodes) == {A100.name: 16}


def test_a_node_without_a_count_leaves_the_class_uncapped() -> None:
    view = InventoryView(classes={A100.name: A100}, nodes_by_class={A100.name: ("a", "b")})
    nodes = [_node("a", **{"nvidia.com/gpu.count": "8"}), _node("b")]
    assert gpus_by_class(view, nodes) == {}

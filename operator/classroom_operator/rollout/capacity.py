"""How many inference pods each GPU class can hold, from its nodes' GPU Feature Discovery labels
(pure): the pools are never sized past the GPUs there are."""

from __future__ import annotations

from collections.abc import Iterable

from classroom_operator.engines.inventory import InventoryView, NodeGpu

GPU_COUNT = "nvidia.com/gpu.count"
GPU_REPLICAS = "nvidia.com/gpu.replicas"  # time-slicing: pods that may share one GPU


def _pods_per_node(node: NodeGpu | None) -> int | None:
    labels = node.labels if node is not None else {}
    count, shared = labels.get(GPU_COUNT, ""), labels.get(GPU_REPLICAS, "1")
    if not count.isdigit() or not shared.isdigit():
        return None
    return int(count) * max(1, int(shared))


def gpus_by_class(view: InventoryView, nodes: Iterable[NodeGpu]) -> dict[str, int]:
    """Pods each GPU class can hold: its nodes' GPUs, times their time-slicing replicas. A class
    with a node that does not say is left out, so nothing is capped by a guess."""
    by_name = {node.name: node for node in nodes}
    counts: dict[str, int] = {}
    for gpu_class, names in view.nodes_by_class.items():
        per_node = [_pods_per_node(by_name.get(name)) for name in names]
        if view.classes[gpu_class].is_gpu and None not in per_node:
            counts[gpu_class] = sum(n for n in per_node if n is not None)
    return counts

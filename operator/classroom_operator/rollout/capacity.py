"""How many inference pods each GPU class can hold, from its nodes' GPU Feature Discovery labels
(pure): the pools are never sized past the GPUs there are; and what to do about a classroom
that no single pod can take.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from classroom_operator.engines.inventory import InventoryView, NodeGpu
from classroom_operator.rollout.assignment import HEADROOM
from classroom_operator.rollout.classrooms import FACES_PER_ROOM_CAMERA, Room

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


def room_too_large(room: Room, target_fps: int, crops_per_pod: float) -> str:
    """Why a classroom is more than one pod takes, and the fixes that help: a room is never
    split across pods, so more replicas would not."""
    faces = room.crops_per_frame
    parts = []
    if room.students:
        parts.append(f"{room.students} per-student streams")
    if room.cameras:
        seats = f"{room.seats} seats" if room.seats else \
            f"{FACES_PER_ROOM_CAMERA} faces assumed (its seats are not declared)"
        parts.append(f"{room.cameras} room camera{'s' if room.cameras > 1 else ''} x {seats}")
    fitting = math.floor(crops_per_pod / faces) if faces else 0
    fixes = ["lower spec.serving.targetFps" + (f" ({fitting} fits)" if fitting >= 1 else ""),
             "use a faster engine (spec.engine.precision fp16 or int8, or faster GPUs)"]
    if room.cameras and not room.seats:
        fixes.append("declare the room's real seats (seats of spec.classrooms[], or the "
                     "Classroom's spec.seats)")
    return (f"classroom {room.name} needs {faces * target_fps:.0f} crops/s ({' + '.join(parts)}"
            f" = {faces:.0f} faces a frame x {target_fps} fps), more than one pod takes "
            f"({crops_per_pod:.0f} crops/s, {HEADROOM:.0%} of the engine's measured "
            f"{crops_per_pod / HEADROOM:.0f}); a classroom is never split across pods, so more "
            f"replicas do not help: {', or '.join(fixes)}")

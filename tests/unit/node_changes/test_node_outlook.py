"""Which models a node change wakes: all of a placement's when what their engines depend on
changed (GPU classes, nodes mid-upgrade, half-labelled nodes); otherwise only those serving
pools, so nodes going unreachable and back do not make a thousand models look again."""

from __future__ import annotations

from typing import Any

from classroom_operator.engines.inventory import node_from_object, outlook_of, view_for
from classroom_operator.engines.node_changes import models_to_wake
from classroom_operator.spec import Placement

A100 = {
    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    "nvidia.com/gpu.compute.major": "8",
    "nvidia.com/gpu.compute.minor": "0",
    "nvidia.com/cuda.driver-version.major": "550",
}
READY = {"conditions": [{"type": "Ready", "status": "True"}]}
UNREACHABLE = {"taints": [{"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}]}
EVERYWHERE = Placement(node_selector=(), tolerations=())
OTHER = Placement(node_selector=(("pool", "b"),), tolerations=())


def _view(*nodes: tuple[str, dict[str, str], dict[str, Any]]) -> Any:
    return view_for([node_from_object(name, labels, spec, READY) for name, labels, spec in nodes],
                    EVERYWHERE)


def test_one_node_of_a_known_class_going_unreachable_changes_no_outlook() -> None:
    both = _view(("gpu-1", A100, {}), ("gpu-2", A100, {}))
    one_unreachable = _view(("gpu-1", A100, {}), ("gpu-2", A100, UNREACHABLE))
    assert one_unreachable.nodes_by_class != both.nodes_by_class
    assert outlook_of(one_unreachable) == outlook_of(both)


def test_a_new_class_an_upgrade_or_a_half_labelled_node_changes_the_outlook() -> None:
    before = outlook_of(_view(("gpu-1", A100, {})))
    upgraded = {**A100, "nvidia.com/cuda.driver-version.major": "580"}
    assert outlook_of(_view(("gpu-1", A100, {}), ("gpu-2", upgraded, {}))) != before
    settling = {**A100, "nvidia.com/gpu-driver-upgrade-state": "upgrade-required"}
    assert outlook_of(_view(("gpu-1", A100, {}), ("gpu-2", settling, {}))) != before
    half = {key: value for key, value in A100.items() if "driver" not in key}
    assert outlook_of(_view(("gpu-1", A100, {}), ("gpu-2", half, {}))) != before


def test_an_unchanged_outlook_wakes_only_the_models_with_pools() -> None:
    placements = {EVERYWHERE: [("school", "grade-5"), ("school", "grade-6")],
                  OTHER: [("school", "grade-7")]}
    pools = {("school", "grade-6"): ["grade-6-0123abcd"]}
    assert models_to_wake({EVERYWHERE: False}, placements=placements, pools=pools) == [
        ("school", "grade-6")]
    assert models_to_wake({EVERYWHERE: True, OTHER: False}, placements=placements,
                          pools=pools) == [("school", "grade-5"), ("school", "grade-6")]

"""GPU classes from GPU Feature Discovery labels, and which nodes a model's placement can use."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from classroom_operator.engines.inventory import GpuClass, NodeGpu, gpu_class_from_labels, view_for
from classroom_operator.spec import Placement, Toleration

ANYWHERE = Placement(node_selector=(), tolerations=())


def test_class_name_from_current_labels(a100: dict[str, str]) -> None:
    gpu = gpu_class_from_labels(a100)
    assert gpu == GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
    assert gpu is not None and gpu.name == "nvidia-a100-sxm4-80gb-sm80-drv550"


def test_older_driver_label_names_give_the_same_class(a100: dict[str, str]) -> None:
    older = {key.replace("driver-version", "driver"): value for key, value in a100.items()}
    older["nvidia.com/cuda.driver.rev"] = older.pop("nvidia.com/cuda.driver.revision")
    assert gpu_class_from_labels(older) == gpu_class_from_labels(a100)


def test_mig_product_names_are_their_own_dns_safe_class(a100: dict[str, str]) -> None:
    mig = {**a100, "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb"}
    gpu = gpu_class_from_labels(mig)
    assert gpu is not None
    assert gpu.name == "nvidia-a100-sxm4-40gb-mig-1g-5gb-sm80-drv550"
    assert gpu != gpu_class_from_labels(a100)


def test_long_product_names_stay_a_dns_label_and_distinct(a100: dict[str, str]) -> None:
    long_a = {**a100, "nvidia.com/gpu.product": "NVIDIA-RTX-PRO-6000-Blackwell-Server-Edition-"
                                                 "Workstation-Max-Q-Variant-A"}
    long_b = {**long_a, "nvidia.com/gpu.product": long_a["nvidia.com/gpu.product"][:-1] + "B"}
    a, b = gpu_class_from_labels(long_a), gpu_class_from_labels(long_b)
    assert a is not None and b is not None
    assert len(a.name) <= 63 and len(b.name) <= 63
    assert a.name != b.name
    assert a.name.endswith("-sm80-drv550")


def test_no_gpu_labels_is_the_cpu_class() -> None:
    gpu = gpu_class_from_labels({"kubernetes.io/hostname": "laptop"})
    assert gpu == GpuClass()
    assert gpu is not None and gpu.name == "cpu" and not gpu.is_gpu


@pytest.mark.parametrize("missing", ["nvidia.com/gpu.compute.major",
                                     "nvidia.com/cuda.driver-version.major"])
def test_half_labelled_gpu_node_is_not_classed(a100: dict[str, str], missing: str) -> None:
    labels = {key: value for key, value in a100.items() if key != missing}
    assert gpu_class_from_labels(labels) is None


def test_label_noise_is_no_change(a100: dict[str, str], node: Callable[..., NodeGpu]) -> None:
    noisy = {**a100, "nvidia.com/gfd.timestamp": "1732999999",
             "nvidia.com/cuda.driver-version.minor": "90",
             "nvidia.com/cuda.driver-version.revision": "7"}
    assert node("gpu-1", noisy) == node("gpu-1", a100)


def test_a_real_change_is_a_change(a100: dict[str, str], node: Callable[..., NodeGpu]) -> None:
    upgraded = {**a100, "nvidia.com/cuda.driver-version.major": "580"}
    assert node("gpu-1", upgraded) != node("gpu-1", a100)
    assert node("gpu-1", taints=[{"key": "k", "effect": "NoSchedule"}]) != node("gpu-1")


def test_view_groups_nodes_by_class(a100: dict[str, str], node: Callable[..., NodeGpu]) -> None:
    h100 = {**a100, "nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3",
            "nvidia.com/gpu.compute.major": "9"}
    nodes = [node("a1", a100), node("a2", a100), node("h1", h100), node("cpu-1", {})]
    view = view_for(nodes, ANYWHERE)
    assert set(view.classes) == {"nvidia-a100-sxm4-80gb-sm80-drv550",
                                 "nvidia-h100-80gb-hbm3-sm90-drv550", "cpu"}
    assert view.nodes_by_class["nvidia-a100-sxm4-80gb-sm80-drv550"] == ("a1", "a2")


def test_cordoned_and_not_ready_nodes_do_not_count(node: Callable[..., NodeGpu]) -> None:
    view = view_for([node("a1", unschedulable=True), node("a2", ready=False)], ANYWHERE)
    assert view.classes == {}


def test_node_selector_limits_the_classes(a100: dict[str, str],
                                          node: Callable[..., NodeGpu]) -> None:
    nodes = [node("a1", {**a100, "school": "lincoln"}), node("cpu-1", {"school": "other"})]
    view = view_for(nodes, Placement(node_selector=(("school", "lincoln"),), tolerations=()))
    assert list(view.classes) == ["nvidia-a100-sxm4-80gb-sm80-drv550"]


@pytest.mark.parametrize(("toleration", "admitted"), [
    (None, False),
    (Toleration("nvidia.com/gpu", "Exists", "", "NoSchedule", None), True),
    (Toleration("nvidia.com/gpu", "Equal", "present", "", None), True),
    (Toleration("nvidia.com/gpu", "Equal", "absent", "", None), False),
    (Toleration("", "Exists", "", "", None), True),
    (Toleration("nvidia.com/gpu", "Exists", "", "NoExecute", None), False),
])
def test_taints_need_a_matching_toleration(node: Callable[..., NodeGpu],
                                           toleration: Toleration | None,
                                           admitted: bool) -> None:
    tainted = node("a1", taints=[{"key": "nvidia.com/gpu", "value": "present",
                                  "effect": "NoSchedule"}])
    placement = Placement(node_selector=(), tolerations=(toleration,) if toleration else ())
    assert bool(view_for([tainted], placement).classes) is admitted


def test_prefer_no_schedule_taints_do_not_keep_engines_away(node: Callable[..., NodeGpu]) -> None:
    soft = node("a1", taints=[{"key": "busy", "effect": "PreferNoSchedule"}])
    assert view_for([soft], ANYWHERE).classes


@pytest.mark.parametrize(("state", "settling"), [
    ("upgrade-required", True), ("cordon-required", True), ("drain-required", True),
    ("pod-restart-required", True), ("validation-required", True),
    ("uncordon-required", True), ("upgrade-done", False), ("upgrade-failed", False),
])
def test_driver_upgrade_in_progress_is_settling(a100: dict[str, str],
                                                node: Callable[..., NodeGpu], state: str,
                                                settling: bool) -> None:
    upgrading = node("a1", {**a100, "nvidia.com/gpu-driver-upgrade-state": state})
    view = view_for([upgrading, node("a2")], ANYWHERE)
    assert (view.settling == ("a1",)) is settling
    # The other node of the class keeps the class in view either way.
    assert "nvidia-a100-sxm4-80gb-sm80-drv550" in view.classes


def test_half_labelled_nodes_are_reported(a100: dict[str, str],
                                          node: Callable[..., NodeGpu]) -> None:
    labels = {key: value for key, value in a100.items() if "compute" not in key}
    view = view_for([node("a1", labels)], ANYWHERE)
    assert view.incomplete == ("a1",)
    assert view.classes == {}

"""GPU inventory: GPU classes from NVIDIA GPU Feature Discovery (GFD) node labels.

A node's GPU class is its GPU product, compute capability and CUDA driver major version, the things
an engine is bound to. Nodes without GPU labels form the `cpu` class. Only labels that decide the
class (or a model's nodeSelector) are kept, so GFD's periodic relabelling (`gfd.timestamp`, driver
minor and revision) looks like no change at all.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from classroom_operator.spec.model import Placement, Toleration

PRODUCT = "nvidia.com/gpu.product"
COMPUTE_MAJOR = "nvidia.com/gpu.compute.major"
COMPUTE_MINOR = "nvidia.com/gpu.compute.minor"
# GFD renamed cuda.driver.* to cuda.driver-version.*; clusters run both generations.
DRIVER_MAJOR_LABELS = ("nvidia.com/cuda.driver-version.major", "nvidia.com/cuda.driver.major")
UPGRADE_STATE = "nvidia.com/gpu-driver-upgrade-state"
# The GPU Operator's upgrade controller walks a node through these; only the last two are at rest.
UPGRADE_AT_REST = ("", "upgrade-done", "upgrade-failed")
# Labels GFD rewrites without the GPU changing; they never decide anything here.
NOISE = re.compile(
    r"^nvidia\.com/(gfd\.timestamp|cuda\.driver(-version)?\.(minor|rev|revision|full)"
    r"|cuda\.runtime(-version)?\..*)$"
)
CPU_CLASS = "cpu"
MAX_NAME = 63
BLOCKING_EFFECTS = ("NoSchedule", "NoExecute")


@dataclass(frozen=True)
class GpuClass:
    """What an engine is bound to. `product` is None for the CPU class."""

    product: str | None = None
    compute_capability: str | None = None
    driver_major: int | None = None

    @cached_property  # read for every node of every model's every pass: worked out once
    def name(self) -> str:
        """DNS-label-safe class name, e.g. nvidia-a100-sxm4-80gb-sm80-drv550 (docs/contracts.md)."""
        if self.product is None:
            return CPU_CLASS
        suffix = f"-sm{(self.compute_capability or '').replace('.', '')}-drv{self.driver_major}"
        slug = re.sub(r"[^a-z0-9]+", "-", self.product.lower()).strip("-")
        if len(slug) + len(suffix) > MAX_NAME:
            digest = hashlib.sha256(self.product.encode()).hexdigest()[:6]
            slug = f"{slug[: MAX_NAME - len(suffix) - 7].rstrip('-')}-{digest}"
        return slug + suffix

    @property
    def is_gpu(self) -> bool:
        return self.product is not None


@dataclass(frozen=True)
class Taint:
    key: str
    value: str
    effect: str


@dataclass(frozen=True)
class NodeGpu:
    """A node as far as engines care. Equal snapshots mean nothing changed that matters."""

    name: str
    labels: Mapping[str, str]
    taints: tuple[Taint, ...]
    schedulable: bool
    ready: bool
    gpu: GpuClass
    # A node with a GPU product label but no compute capability or driver major: GFD has not
    # finished labelling it, so it cannot be classed yet.
    incomplete: bool = False
    upgrade_state: str = ""

    @property
    def settling(self) -> bool:
        return self.upgrade_state not in UPGRADE_AT_REST


def gpu_class_from_labels(labels: Mapping[str, str]) -> GpuClass | None:
    """The node's GPU class, `GpuClass()` (cpu) without GPU labels, None when half-labelled."""
    product = labels.get(PRODUCT)
    if not product:
        return GpuClass()
    major, minor = labels.get(COMPUTE_MAJOR), labels.get(COMPUTE_MINOR)
    driver = next((labels[key] for key in DRIVER_MAJOR_LABELS if labels.get(key)), None)
    if not (major and minor and driver and major.isdigit() and minor.isdigit()
            and driver.isdigit()):
        return None
    return GpuClass(product=product, compute_capability=f"{int(major)}.{int(minor)}",
                    driver_major=int(driver))


def node_from_object(name: str, labels: Mapping[str, str], spec: Mapping[str, Any],
                     status: Mapping[str, Any]) -> NodeGpu:
    """Snapshot a Node object (its metadata.labels, spec and status)."""
    gpu = gpu_class_from_labels(labels)
    conditions = status.get("conditions") or []
    ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    taints = tuple(
        Taint(key=str(t.get("key", "")), value=str(t.get("value") or ""),
              effect=str(t.get("effect", "")))
        for t in spec.get("taints") or []
    )
    return NodeGpu(
        name=name,
        labels={key: value for key, value in labels.items() if not NOISE.match(key)},
        taints=taints,
        schedulable=not spec.get("unschedulable", False),
        ready=ready,
        gpu=gpu if gpu is not None else GpuClass(),
        incomplete=gpu is None,
        upgrade_state=labels.get(UPGRADE_STATE, ""),
    )


def tolerates(tolerations: Iterable[Toleration], taint: Taint) -> bool:
    """Kubernetes' toleration matching, for the taint effects that keep pods off a node."""
    for toleration in tolerations:
        if toleration.effect and toleration.effect != taint.effect:
            continue
        if toleration.operator == "Exists" and (not toleration.key or toleration.key == taint.key):
            return True
        if toleration.key == taint.key and toleration.value == taint.value:
            return True
    return False


def admits(node: NodeGpu, placement: Placement) -> bool:
    """Whether the model's build Jobs and pods could land on this node at all."""
    if any(node.labels.get(key) != value for key, value in placement.node_selector):
        return False
    return all(
        taint.effect not in BLOCKING_EFFECTS or tolerates(placement.tolerations, taint)
        for taint in node.taints
    )


@dataclass(frozen=True)
class InventoryView:
    """The GPU classes one placement can use, and the nodes that hold decisions back."""

    classes: Mapping[str, GpuClass] = field(default_factory=dict)
    nodes_by_class: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    settling: tuple[str, ...] = ()
    incomplete: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outlook:
    """What of a view the engines and their conditions depend on (not which nodes hold a
    class: one node more or less of a known class changes no engine)."""

    classes: frozenset[str]
    settling: tuple[str, ...]
    incomplete: tuple[str, ...]


def outlook_of(view: InventoryView) -> Outlook:
    return Outlook(classes=frozenset(view.classes), settling=view.settling,
                   incomplete=view.incomplete)


def view_for(nodes: Iterable[NodeGpu], placement: Placement) -> InventoryView:
    """GPU classes of the schedulable, ready nodes a placement admits.

    A node in the middle of a driver upgrade is set aside (`settling`) so its passing labels
    never start a build; once at rest it is counted again, and acted on once.
    """
    classes: dict[str, GpuClass] = {}
    members: dict[str, list[str]] = {}
    settling: list[str] = []
    incomplete: list[str] = []
    for node in sorted(nodes, key=lambda n: n.name):
        if not admits(node, placement):
            continue
        if node.settling:
            settling.append(node.name)
            continue
        if node.incomplete:
            incomplete.append(node.name)
            continue
        if not (node.schedulable and node.ready):
            continue
        classes[node.gpu.name] = node.gpu
        members.setdefault(node.gpu.name, []).append(node.name)
    return InventoryView(
        classes=classes,
        nodes_by_class={name: tuple(names) for name, names in members.items()},
        settling=tuple(settling),
        incomplete=tuple(incomplete),
    )


def node_affinity(gpu: GpuClass, placement: Placement) -> dict[str, Any]:
    """Required node affinity selecting exactly the nodes of this GPU class.

    One term per GFD generation of the driver label (terms are ORed), each also carrying the
    model's nodeSelector.
    """
    selector = [{"key": key, "operator": "In", "values": [value]}
                for key, value in placement.node_selector]
    if not gpu.is_gpu:
        terms = [[{"key": PRODUCT, "operator": "DoesNotExist"}, *selector]]
    else:
        major, minor = (gpu.compute_capability or "0.0").split(".")
        common = [
            {"key": PRODUCT, "operator": "In", "values": [gpu.product]},
            {"key": COMPUTE_MAJOR, "operator": "In", "values": [major]},
            {"key": COMPUTE_MINOR, "operator": "In", "values": [minor]},
        ]
        terms = [[*common, {"key": label, "operator": "In", "values": [str(gpu.driver_major)]},
                  *selector] for label in DRIVER_MAJOR_LABELS]
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
        "nodeSelectorTerms": [{"matchExpressions": term} for term in terms]}}}


def tolerations_of(placement: Placement) -> list[dict[str, Any]]:
    result = []
    for toleration in placement.tolerations:
        item: dict[str, Any] = {"operator": toleration.operator}
        if toleration.key:
            item["key"] = toleration.key
        if toleration.operator == "Equal":
            item["value"] = toleration.value
        if toleration.effect:
            item["effect"] = toleration.effect
        if toleration.toleration_seconds is not None:
            item["tolerationSeconds"] = toleration.toleration_seconds
        result.append(item)
    return result

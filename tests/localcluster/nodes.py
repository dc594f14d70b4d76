"""Simulated nodes: GPU nodes carrying the labels NVIDIA GPU Feature Discovery (GFD) puts on real
ones, and CPU nodes without them.

Two kinds of node run the pods scheduled onto them differently:
- kwok nodes (annotation `kwok.x-k8s.io/node=fake`) are kept Ready by kwok, whose default stages
  move their pods to Running (and Job pods to Succeeded) without running anything: fleets of
  hundreds for scale tests. They carry kwok's usual `NoSchedule` taint unless asked otherwise, so
  ordinary workloads stay on nodes that really run them.
- agent nodes are registered and kept Ready by the local node agent (agent.py), which runs their
  pods as local processes.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

GFD_PREFIX = "nvidia.com/"
GPU_RESOURCE = "nvidia.com/gpu"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"
KWOK_TAINT = {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"}
# Marks the nodes the node agent owns, so a reader of the API can tell who runs their pods.
AGENT_ANNOTATION = "localcluster.classroom-operator.io/agent"

Runner = Literal["agent", "kwok"]

# GFD's `nvidia.com/gpu.family` by compute capability major.minor.
FAMILIES = {
    (7, 0): "volta", (7, 5): "turing", (8, 0): "ampere", (8, 6): "ampere", (8, 7): "ampere",
    (8, 9): "ada-lovelace", (9, 0): "hopper", (10, 0): "blackwell", (12, 0): "blackwell",
}


def driver_labels(driver: str) -> dict[str, str]:
    """GFD's driver labels, new names and the older `nvidia.com/cuda.driver.*` ones."""
    parts = driver.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError(f"driver: {driver!r} is not a driver version like '550.54.15'")
    major, minor, revision = parts
    return {
        "nvidia.com/cuda.driver-version.major": major,
        "nvidia.com/cuda.driver-version.minor": minor,
        "nvidia.com/cuda.driver-version.revision": revision,
        "nvidia.com/cuda.driver-version.full": driver,
        "nvidia.com/cuda.driver.major": major,
        "nvidia.com/cuda.driver.minor": minor,
        "nvidia.com/cuda.driver.rev": revision,
    }


@dataclass(frozen=True)
class GpuNode:
    """A node with `count` GPUs of one product, as GFD labels it."""

    name: str
    product: str
    compute: tuple[int, int] = (8, 0)
    driver: str = "550.54.15"
    count: int = 1
    memory_mib: int = 81920
    runner: Runner = "agent"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] | None = None

    def __post_init__(self) -> None:
        if not self.product or " " in self.product:
            raise ValueError(f"product: {self.product!r} must be GFD's form, e.g. 'NVIDIA-L4'")
        if self.count < 1:
            raise ValueError(f"count: {self.count} must be at least 1 (use CpuNode for none)")
        driver_labels(self.driver)

    def gfd_labels(self, timestamp: int | None = None) -> dict[str, str]:
        major, minor = self.compute
        labels = {
            "nvidia.com/gpu.present": "true",
            "nvidia.com/gpu.product": self.product,
            "nvidia.com/gpu.count": str(self.count),
            "nvidia.com/gpu.memory": str(self.memory_mib),
            "nvidia.com/gpu.compute.major": str(major),
            "nvidia.com/gpu.compute.minor": str(minor),
            "nvidia.com/gpu.replicas": "1",
            "nvidia.com/gpu.sharing-strategy": "none",
            "nvidia.com/mig.capable": "false",
            "nvidia.com/gfd.timestamp": str(int(time.time()) if timestamp is None else timestamp),
            **driver_labels(self.driver),
        }
        if (major, minor) in FAMILIES:
            labels["nvidia.com/gpu.family"] = FAMILIES[(major, minor)]
        return labels

    def spec(self) -> NodeSpec:
        return NodeSpec(
            name=self.name,
            labels={**self.gfd_labels(), **self.labels},
            capacity={**DEFAULT_CAPACITY, GPU_RESOURCE: str(self.count)},
            runner=self.runner,
            taints=_taints(self.runner, self.taints),
        )


@dataclass(frozen=True)
class CpuNode:
    """A node without GPUs: no GFD labels, no `nvidia.com/gpu` capacity."""

    name: str
    runner: Runner = "agent"
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: tuple[Mapping[str, str], ...] | None = None

    def spec(self) -> NodeSpec:
        return NodeSpec(
            name=self.name, labels=dict(self.labels), capacity=dict(DEFAULT_CAPACITY),
            runner=self.runner, taints=_taints(self.runner, self.taints),
        )


def _taints(runner: Runner, taints: tuple[Mapping[str, str], ...] | None) -> list[dict[str, str]]:
    if taints is not None:
        return [dict(t) for t in taints]
    return [dict(KWOK_TAINT)] if runner == "kwok" else []


# Generous figures: the scheduler should place by GPUs and selectors, not by this laptop's CPUs.
DEFAULT_CAPACITY = {"cpu": "16", "memory": "64Gi", "pods": "110", "ephemeral-storage": "100Gi"}


def a100(name: str, **overrides: Any) -> GpuNode:
    return replace(GpuNode(name, "NVIDIA-A100-SXM4-80GB", (8, 0), memory_mib=81920), **overrides)


def h100(name: str, **overrides: Any) -> GpuNode:
    return replace(GpuNode(name, "NVIDIA-H100-80GB-HBM3", (9, 0), memory_mib=81559), **overrides)


def l4(name: str, **overrides: Any) -> GpuNode:
    return replace(GpuNode(name, "NVIDIA-L4", (8, 9), memory_mib=23034), **overrides)


def t4(name: str, **overrides: Any) -> GpuNode:
    return replace(GpuNode(name, "Tesla-T4", (7, 5), memory_mib=15360), **overrides)


PRESETS = {"a100": a100, "h100": h100, "l4": l4, "t4": t4}


def default_nodes() -> list[GpuNode]:
    """The local default: two GPU classes, both run by the node agent. Two GPUs a node, as GPU
    servers have several: a pool rolls over make-before-break, so during a driver upgrade the new
    engine's build and pod need a GPU beside the one the old pod still serves from."""
    return [a100("gpu-a100-0", count=2), l4("gpu-l4-0", count=2)]


@dataclass(frozen=True)
class NodeSpec:
    """Everything needed to register a node; what the node agent reads from its nodes folder."""

    name: str
    labels: dict[str, str]
    capacity: dict[str, str]
    runner: Runner = "agent"
    taints: list[dict[str, str]] = field(default_factory=list)
    address: str = "127.0.0.1"

    def to_json(self) -> str:
        return json.dumps(
            {"name": self.name, "labels": self.labels, "capacity": self.capacity,
             "runner": self.runner, "taints": self.taints, "address": self.address},
            indent=2, sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str) -> NodeSpec:
        data = json.loads(text)
        return cls(
            name=data["name"], labels=dict(data["labels"]), capacity=dict(data["capacity"]),
            runner=data.get("runner", "agent"), taints=list(data.get("taints", [])),
            address=data.get("address", "127.0.0.1"),
        )

    def manifest(self) -> dict[str, Any]:
        """The Node object as registered (kwok nodes: by us; agent nodes: by the agent)."""
        annotations = {"node.alpha.kubernetes.io/ttl": "0"}
        if self.runner == "kwok":
            annotations[KWOK_ANNOTATION] = "fake"
        else:
            annotations[AGENT_ANNOTATION] = "true"
        labels = {
            "kubernetes.io/hostname": self.name, "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64", **self.labels,
        }
        if self.runner == "kwok":
            labels["type"] = "kwok"
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {"name": self.name, "labels": labels, "annotations": annotations},
            "spec": {"taints": self.taints} if self.taints else {},
            "status": {
                "capacity": self.capacity, "allocatable": self.capacity,
                "addresses": [{"type": "InternalIP", "address": self.address},
                              {"type": "Hostname", "address": self.name}],
            },
        }


def relabel_patch(current: Mapping[str, str], new_gpu: GpuNode | None) -> dict[str, str | None]:
    """Labels that turn a node's GFD labels into `new_gpu`'s (None: a CPU node now).

    GFD labels the new node fully and drops what no longer applies, so every `nvidia.com/` label
    absent from the new set is removed (a merge patch's null).
    """
    wanted: dict[str, str] = new_gpu.gfd_labels() if new_gpu is not None else {}
    patch: dict[str, str | None] = {
        key: None for key in current if key.startswith(GFD_PREFIX) and key not in wanted
    }
    patch.update(wanted)
    return patch


def write_agent_node(nodes_dir: Path, spec: NodeSpec) -> Path:
    """Hand a node to the node agent: it watches this folder, registers and runs the node."""
    nodes_dir.mkdir(parents=True, exist_ok=True)
    path = nodes_dir / f"{spec.name}.json"
    temporary = path.with_suffix(".tmp")
    temporary.write_text(spec.to_json())
    temporary.replace(path)
    return path

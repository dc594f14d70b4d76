from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from classroom_operator.engines.inventory import NodeGpu, node_from_object

A100 = {
    "nvidia.com/gpu.present": "true",
    "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
    "nvidia.com/gpu.compute.major": "8",
    "nvidia.com/gpu.compute.minor": "0",
    "nvidia.com/cuda.driver-version.major": "550",
    "nvidia.com/cuda.driver-version.minor": "54",
    "nvidia.com/cuda.driver-version.revision": "15",
    "nvidia.com/gfd.timestamp": "1732000000",
}

READY = {"conditions": [{"type": "Ready", "status": "True"}]}


@pytest.fixture
def a100() -> dict[str, str]:
    return dict(A100)


@pytest.fixture
def node() -> Callable[..., NodeGpu]:
    """A Node snapshot from labels, with optional taints, cordon and readiness."""

    def make(name: str = "gpu-1", labels: dict[str, str] | None = None, *,
             taints: list[dict[str, Any]] | None = None, unschedulable: bool = False,
             ready: bool = True) -> NodeGpu:
        spec: dict[str, Any] = {"taints": taints or []}
        if unschedulable:
            spec["unschedulable"] = True
        status = READY if ready else {"conditions": [{"type": "Ready", "status": "False"}]}
        return node_from_object(name, dict(A100 if labels is None else labels), spec, status)

    return make

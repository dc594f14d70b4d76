"""The real-node cluster of tests/integration/containers: one node run by a real kubelet with
containerd and runc, the images of `make images` loaded, a restricted namespace per test."""

from __future__ import annotations

from integration.containers.conftest import (
    containers,
    inference_image,
    operator_image,
    restricted,
)

__all__ = ["containers", "inference_image", "operator_image", "restricted"]

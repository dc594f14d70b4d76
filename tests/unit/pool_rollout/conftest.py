from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.engines.inventory import GpuClass
from classroom_operator.rollout.pools import ModelRef, Pool
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, parse_spec
from classroom_operator.spec.pod_settings import PodSettings, parse_pod_settings

A100 = GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550)
MODEL = ModelRef(namespace="lincoln-high", name="attention", uid="0b8e6f2a-uid")


@pytest.fixture
def settings() -> Settings:
    return Settings(namespace="classroom-system", builder_image="registry.example.org/ci:0.1.0",
                    tensorrt_version="10.13.3", gpu_backend="tensorrt",
                    engine_store_claim="classroom-engines", peering=None,
                    engine_gc_seconds=600, pod_ip="127.0.0.1")


@pytest.fixture
def raw_spec() -> dict[str, Any]:
    return {
        "model": {"uri": "https://models.example.org/a.onnx", "sha256": "b" * 64,
                  "outputs": {"emotion": "logits"}},
        "serving": {"nodeSelector": {"school": "lincoln"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                     "effect": "NoSchedule"}],
                    "resources": {"requests": {"cpu": "2", "memory": "4Gi"},
                                  "limits": {"memory": "8Gi"}}},
        "analysis": {"distractedAfterSeconds": 45},
        "sink": {"webhook": {"url": "https://labels.example.org/v1/events",
                             "secretRef": {"name": "sink", "key": "token"}}},
    }


@pytest.fixture
def spec(raw_spec: dict[str, Any]) -> ModelSpec:
    return parse_spec(raw_spec)


@pytest.fixture
def pod_settings(raw_spec: dict[str, Any]) -> PodSettings:
    return parse_pod_settings(raw_spec)


@pytest.fixture
def gpu_pool() -> Pool:
    return Pool(model=MODEL, gpu=A100, fingerprint="0123456789abcdef", backend="tensorrt")


@pytest.fixture
def cpu_pool() -> Pool:
    return Pool(model=MODEL, gpu=GpuClass(), fingerprint="fedcba9876543210",
                backend="onnxruntime-cpu")

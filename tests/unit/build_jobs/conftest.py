from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.engines.build_jobs import EngineNeed
from classroom_operator.engines.inventory import GpuClass
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, parse_spec


@pytest.fixture
def settings() -> Settings:
    return Settings(namespace="classroom-system", builder_image="registry.example.org/ci:0.1.0",
                    tensorrt_version="10.13.3", gpu_backend="tensorrt",
                    engine_store_claim="classroom-engines", peering=None,
                    engine_gc_seconds=600, pod_ip="127.0.0.1", build_deadline_seconds=1800,
                    build_backoff_limit=1, build_ttl_seconds=3600)


@pytest.fixture
def raw_spec() -> dict[str, Any]:
    return {
        "model": {"uri": "https://models.example.org/a.onnx", "sha256": "b" * 64,
                  "outputs": {"emotion": "logits"}},
        "serving": {"nodeSelector": {"school": "lincoln"},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                                     "effect": "NoSchedule"}]},
    }


@pytest.fixture
def spec(raw_spec: dict[str, Any]) -> ModelSpec:
    return parse_spec(raw_spec)


@pytest.fixture
def gpu_need() -> EngineNeed:
    return EngineNeed(fingerprint="0123456789abcdef",
                      gpu=GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 550), backend="tensorrt")


@pytest.fixture
def cpu_need() -> EngineNeed:
    return EngineNeed(fingerprint="fedcba9876543210", gpu=GpuClass(), backend="onnxruntime-cpu")

from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.engines.inventory import GpuClass
from classroom_operator.spec import ModelSpec, parse_spec


@pytest.fixture
def raw_spec() -> dict[str, Any]:
    return {
        "model": {
            "uri": "https://models.example.org/attention.onnx",
            "sha256": "0123456789abcdef" * 4,
            "input": {"shape": [3, 224, 224]},
            "outputs": {"attention": "att", "emotion": "logits", "engagement": "eng"},
        },
        "engine": {"precision": "fp16", "batch": {"min": 1, "opt": 64, "max": 256}},
    }


@pytest.fixture
def spec(raw_spec: dict[str, Any]) -> ModelSpec:
    return parse_spec(raw_spec)


@pytest.fixture
def a100() -> GpuClass:
    return GpuClass(product="NVIDIA-A100-SXM4-80GB", compute_capability="8.0", driver_major=550)

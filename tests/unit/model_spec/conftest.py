from __future__ import annotations

from typing import Any

import pytest

SHA = "a" * 64


@pytest.fixture
def raw_spec() -> dict[str, Any]:
    """A small ClassroomModel spec as the API server returns it (CRD defaults mostly absent)."""
    return {
        "model": {
            "uri": "https://models.example.org/attention.onnx",
            "sha256": SHA,
            "outputs": {"attention": "att", "emotion": "logits"},
        },
        "engine": {"precision": "fp16", "batch": {"min": 1, "opt": 32, "max": 128}},
        "serving": {
            "nodeSelector": {"school": "lincoln"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists",
                             "effect": "NoSchedule"}],
        },
        "classrooms": [{"name": "room-101", "streams": [{"url": "rtsp://cam/1"}]}],
    }

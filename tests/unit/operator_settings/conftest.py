from __future__ import annotations

import pytest


@pytest.fixture
def required_env() -> dict[str, str]:
    """The variables the chart always sets."""
    return {
        "CLASSROOM_OPERATOR_NAMESPACE": "classroom-system",
        "CLASSROOM_BUILDER_IMAGE": "registry.example.org/classroom-inference:0.1.0",
        "CLASSROOM_TENSORRT_VERSION": "10.13.3",
        "CLASSROOM_ENGINE_STORE_CLAIM": "classroom-engines",
    }

from __future__ import annotations

from collections.abc import Callable

import pytest
from classroom_operator.metrics import Metrics

Sample = Callable[..., float | None]


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def sample(metrics: Metrics) -> Sample:
    """`sample(name, namespace, model)`: a rollout series as the registry exposes it."""
    def read(name: str, namespace: str = "lincoln-high", model: str = "attention") -> float | None:
        return metrics.registry.get_sample_value(
            f"classroom_operator_{name}", {"namespace": namespace, "model": model})
    return read

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from classroom_operator.engines.planning import EngineRecord


@pytest.fixture
def now() -> datetime:
    return datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def record() -> Callable[..., EngineRecord]:
    def make(state: str, fingerprint: str = "0123456789abcdef", gpu_class: str = "cpu",
             reason: str = "", message: str = "") -> EngineRecord:
        return EngineRecord(fingerprint=fingerprint, gpu_class=gpu_class,
                            backend="onnxruntime-cpu", state=state, reason=reason,
                            message=message, attempts=1)
    return make

"""GPU tests run only where an NVIDIA GPU is; elsewhere the whole folder skips, saying why."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.gpu_runners import cuda_device_present


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if cuda_device_present():
        return
    here = Path(__file__).parent
    skip = pytest.mark.skip(reason="needs an NVIDIA GPU")
    for item in items:
        if here in Path(item.path).parents:
            item.add_marker(skip)

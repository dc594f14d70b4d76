"""A store, the reference model's spec, and a quick fetch policy for builds on the CPU."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from unit.engine_build.kit import write_reference_model


@pytest.fixture
def model_spec(tmp_path: Path) -> dict[str, Any]:
    return write_reference_model(tmp_path / "reference")[1]


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "engines"
    path.mkdir()
    return path

"""A real batcher on the tiny engine, for intakes to crop into."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from bench.engines import write_engine
from classroom_inference.runners import Runner, open_runner
from classroom_inference.serving.batcher import Batch, Batcher

SIZE = 16


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    engine = open_runner(write_engine(tmp_path, "00000000000000cc", height=SIZE, width=SIZE,
                                      batch=(1, 64, 64)))
    engine.load()
    yield engine
    engine.close()


@pytest.fixture
def batches() -> list[Batch]:
    return []


@pytest.fixture
def batcher(runner: Runner, batches: list[Batch]) -> Batcher:
    return Batcher(runner, batches.append, max_delay=0.002)


def attention_of(brightness: float) -> float:
    """What the tiny engine answers for a uniform crop (tests/bench/engines.py)."""
    return float(1.0 / (1.0 + np.exp(-(brightness / 255.0 - 0.5) * 12.0)))

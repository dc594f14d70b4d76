from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from bench.engines import write_engine
from classroom_inference.runners import Runner, open_runner
from classroom_inference.serving.batcher import Batcher

SIZE = 16  # crops of 16x16x3: the tiny engine at a size that keeps tests quick


def _attention_of(brightness: int) -> float:
    """What the tiny engine answers for a uniform crop (tests/bench/engines.py)."""
    return float(1.0 / (1.0 + np.exp(-(brightness / 255.0 - 0.5) * 12.0)))


def _put(batcher: Batcher, student: int, brightness: int, index: int = 0) -> bool:
    """The intake's way in: reserve a row, write the crop into it, commit. `index` is the
    frame's arrival time, so tests can follow crops by it."""
    place = batcher.reserve(student, float(index))
    if place is None:
        return False
    fill, row = place
    fill.images[row] = brightness
    batcher.commit(fill, row)
    return True


@pytest.fixture
def open_engine(tmp_path: Path) -> Iterator[Callable[..., Runner]]:
    runners: list[Runner] = []

    def make(batch: tuple[int, int, int] = (1, 8, 8), cls: type[Runner] | None = None) -> Runner:
        folder = write_engine(
            tmp_path, f"{len(runners):016x}", height=SIZE, width=SIZE, batch=batch
        )
        runner = open_runner(folder)
        if cls is not None:
            runner = cls(runner.meta, runner.engine_path)
        runner.load()
        runners.append(runner)
        return runner

    yield make
    for runner in runners:
        runner.close()


@pytest.fixture
def put() -> Callable[..., bool]:
    """put(batcher, student, brightness, index=0): one uniform crop the engine can read."""
    return _put


@pytest.fixture
def attention_of() -> Callable[[int], float]:
    return _attention_of

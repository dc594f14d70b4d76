from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from bench.engines import write_engine
from classroom_inference.runners import Runner, open_runner
from classroom_inference.serving.frames import Crop

SIZE = 16  # crops of 16x16x3: the tiny engine at a size that keeps tests quick


def _attention_of(brightness: int) -> float:
    """What the tiny engine answers for a uniform crop (tests/bench/engines.py)."""
    return float(1.0 / (1.0 + np.exp(-(brightness / 255.0 - 0.5) * 12.0)))


def _crop(stream: str, brightness: int, seat: str = "0", index: int = 0) -> Crop:
    image = np.full((SIZE, SIZE, 3), brightness, dtype=np.uint8)
    return Crop(stream_id=stream, seat=seat, image=image, arrived=float(index), frame_index=index)


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
def crop() -> Callable[..., Crop]:
    """crop(stream, brightness, seat="0", index=0): a uniform crop the engine can read."""
    return _crop


@pytest.fixture
def attention_of() -> Callable[[int], float]:
    return _attention_of

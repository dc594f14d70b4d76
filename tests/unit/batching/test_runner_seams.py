from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np
from classroom_inference.runners.base import EngineMeta, RunnerError
from classroom_inference.runners.onnxruntime_cpu import OnnxRuntimeCpuRunner
from classroom_inference.serving.batcher import Batch, Batcher


class BufferedRunner(OnnxRuntimeCpuRunner):
    """A runner offering its own batch buffers, as a GPU runner does with pinned memory."""

    def __init__(self, meta: EngineMeta, engine_path: Path) -> None:
        super().__init__(meta, engine_path)
        self.buffers: list[np.ndarray] = []
        self.inputs: list[np.ndarray] = []

    def input_buffer(self, size: int) -> np.ndarray:
        buffer = np.zeros((size, *self.input_shape), np.uint8)
        self.buffers.append(buffer)
        return buffer

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.inputs.append(batch)
        return super().infer(batch)


class FailsOnce(OnnxRuntimeCpuRunner):
    failed = False

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if not self.failed:
            self.failed = True
            raise RunnerError("device lost")
        return super().infer(batch)


async def test_crops_are_copied_straight_into_the_runners_buffers(
    open_engine: Any, crop: Any
) -> None:
    runner = open_engine(batch=(1, 4, 4), cls=BufferedRunner)
    got: list[Batch] = []
    batcher = Batcher(runner, got.append)
    assert len(runner.buffers) == 2
    for i in range(8):
        batcher.put(crop(f"s{i}", 40 + i))
    batcher.close()
    await asyncio.wait_for(batcher.run(), 30)
    assert len(runner.inputs) == 2
    for batch in runner.inputs:
        assert any(np.shares_memory(batch, b) for b in runner.buffers)
    assert [int(runner.inputs[i][j, 0, 0, 0]) for i in range(2) for j in range(4)] == list(
        range(40, 48)
    )


async def test_an_engine_error_costs_one_batch_not_the_pod(open_engine: Any, crop: Any) -> None:
    runner = open_engine(batch=(1, 2, 2), cls=FailsOnce)
    got: list[Batch] = []
    batcher = Batcher(runner, got.append)
    for i in range(6):
        batcher.put(crop(f"s{i}", 100))
    batcher.close()
    await asyncio.wait_for(batcher.run(), 30)
    assert [k for b in got for k in b.keys] == [("s2", "0"), ("s3", "0"), ("s4", "0"), ("s5", "0")]
    assert batcher.stats.failed_batches == 1 and batcher.stats.consecutive_failures == 0
    assert batcher.stats.last_error == "RunnerError: device lost"

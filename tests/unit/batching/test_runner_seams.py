from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import numpy as np
from classroom_inference.runners.base import EngineMeta, RunnerError
from classroom_inference.runners.onnxruntime_cpu import OnnxRuntimeCpuRunner
from classroom_inference.serving.batcher import SPARE_BUFFERS, Batch, Batcher


class Pipelined(OnnxRuntimeCpuRunner):
    """The CPU runner declaring a GPU runner's depth: two batches may be in flight."""

    def __init__(self, meta: EngineMeta, engine_path: Path) -> None:
        super().__init__(meta, engine_path)
        self.inputs: list[np.ndarray] = []
        self.buffers: list[np.ndarray] = []
        self.in_flight = 0
        self.most_in_flight = 0

    @property
    def pipeline_depth(self) -> int:
        return 2

    def batch_buffer(self) -> np.ndarray:
        self.buffers.append(super().batch_buffer())
        return self.buffers[-1]

    def submit(self, batch: np.ndarray) -> None:
        self.inputs.append(batch)
        super().submit(batch)  # raises if the caller exceeds the depth
        self.in_flight += 1
        self.most_in_flight = max(self.most_in_flight, self.in_flight)

    def collect(self) -> dict[str, np.ndarray]:
        self.in_flight -= 1
        return super().collect()


class FailsOnce(OnnxRuntimeCpuRunner):
    failed = False

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if not self.failed:
            self.failed = True
            raise RunnerError("device lost")
        return super().infer(batch)


async def test_batches_are_read_in_place_from_the_runners_buffers_within_its_depth(
    open_engine: Any, put: Any, attention_of: Any
) -> None:
    runner = open_engine(batch=(1, 4, 4), cls=Pipelined)
    got: list[Batch] = []
    batcher = Batcher(runner, got.append, max_delay=0.001)
    task = asyncio.create_task(batcher.run())
    levels = [(17 * i) % 256 for i in range(40)]
    for i, level in enumerate(levels):
        # Every buffer full: wait for the engine (the batcher has no event for it, by design).
        while not put(batcher, i, level, index=i):  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    batcher.close()
    await asyncio.wait_for(task, 30)
    assert batcher.stats.failed_batches == 0 and len(runner.inputs) == 10
    assert 1 <= runner.most_in_flight <= 2
    # every batch is read in place from one of the buffers the runner handed out
    assert len(runner.buffers) == batcher.buffers == 2 + SPARE_BUFFERS
    assert all(any(np.shares_memory(batch, buffer) for buffer in runner.buffers)
               for batch in runner.inputs)
    assert [int(t) for b in got for t in b.arrived] == list(range(40))
    heads = np.concatenate([b.outputs["attention"][:, 0] for b in got])
    assert np.allclose(heads, [attention_of(v) for v in levels], atol=1e-5)


async def test_an_engine_error_costs_one_batch_not_the_pod(open_engine: Any, put: Any) -> None:
    runner = open_engine(batch=(1, 2, 2), cls=FailsOnce)
    got: list[Batch] = []
    batcher = Batcher(runner, got.append)
    for i in range(6):
        put(batcher, i, 100)
    batcher.close()
    await asyncio.wait_for(batcher.run(), 30)
    assert [int(s) for b in got for s in b.students] == [2, 3, 4, 5]
    assert not batcher.holds(range(6))
    assert batcher.stats.failed_batches == 1 and batcher.stats.consecutive_failures == 0
    assert batcher.stats.last_error == "RunnerError: device lost"


class Gated(OnnxRuntimeCpuRunner):
    """The CPU runner, holding each batch until the test opens the gate: a busy engine."""

    def __init__(self, meta: EngineMeta, engine_path: Path) -> None:
        super().__init__(meta, engine_path)
        self.gate = threading.Event()
        self.started = threading.Event()

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.started.set()
        self.gate.wait(30)
        return super().infer(batch)


async def test_a_busy_engine_gets_one_fuller_batch_not_many_small_ones(
    open_engine: Any, put: Any
) -> None:
    runner = open_engine(batch=(1, 16, 16), cls=Gated)
    got: list[Batch] = []
    batcher = Batcher(runner, got.append, max_delay=0.005)
    task = asyncio.create_task(batcher.run())
    put(batcher, 0, 10)
    await asyncio.to_thread(runner.started.wait, 30)  # the engine is now busy with it
    for i in range(1, 6):
        put(batcher, i, 10)
        await asyncio.sleep(0.01)  # each waits past max_delay while the engine is busy
    runner.gate.set()
    batcher.close()
    await asyncio.wait_for(task, 30)
    assert [len(b.students) for b in got] == [1, 5]

"""The pod's batcher driving a GPU pipeline runner: crops written into pinned batch buffers by
producer threads, uploaded from there while the batcher already fills the next buffer, and every
batch's heads its own crops'. The fake device runs queued work only when waited on, so a buffer
reused before its upload ran would show up as wrong heads."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import numpy as np
from classroom_inference.runners.base import EngineMeta
from classroom_inference.serving.batcher import Batch, Batcher
from unit.gpu_runners.fake_device import FakeDevice
from unit.gpu_runners.test_pipeline_order import MeanRunner


async def test_crops_written_by_threads_come_back_with_their_own_heads(
    fake_cuda: FakeDevice, engine_dir: Path
) -> None:
    meta = EngineMeta.from_file(engine_dir / "meta.json")
    meta = EngineMeta.from_dict({**meta.raw, "outputs": {"attention": "attention"}})
    runner = MeanRunner(meta, engine_dir / "engine.onnx")
    runner.load()
    batches: list[Batch] = []
    batcher = Batcher(runner, batches.append, max_delay=0.001)
    dispatching = asyncio.create_task(batcher.run())
    per_thread = 120

    def produce(worker: int) -> None:
        for i in range(per_thread):
            student = worker * 1000 + i
            while (place := batcher.reserve(student, 0.0)) is None:
                threading.Event().wait(0.0005)  # every buffer full: the engine is behind
            fill, row = place
            fill.images[row] = student % 241
            batcher.commit(fill, row)

    threads = [threading.Thread(target=produce, args=(w,)) for w in range(3)]
    for thread in threads:
        thread.start()
    await asyncio.to_thread(lambda: [t.join() for t in threads])
    batcher.close()
    await asyncio.wait_for(dispatching, 30)
    runner.close()
    students = np.concatenate([b.students for b in batches])
    attention = np.concatenate([b.outputs["attention"][:, 0] for b in batches])
    assert sorted(students.tolist()) == sorted(w * 1000 + i for w in range(3)
                                               for i in range(per_thread))
    np.testing.assert_allclose(attention, students % 241, rtol=1e-6)
    assert len(batches) > 3  # the buffers were reused, uploads overlapping the next fill
    assert fake_cuda.memory == {}

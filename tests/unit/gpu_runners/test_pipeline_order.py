"""The double-buffered pipeline keeps every batch's heads its own when batches overlap.

The fake device runs a stream's work only when something waits on it, so a missing event
(compute not waiting for its upload, a slot reused too early) shows up as wrong heads here.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np
import pytest
from classroom_inference.runners.base import EngineMeta
from classroom_inference.runners.cuda_memory import (
    Cuda,
    DeviceBuffer,
    Event,
    HostBuffer,
    Stream,
)
from classroom_inference.runners.gpu_pipeline import GpuPipelineRunner, HeadOutput, Slot
from unit.gpu_runners.fake_device import FakeDevice, device


class MeanRunner(GpuPipelineRunner):
    """An engine on the fake device: attention is each crop's mean byte value."""

    def load(self) -> None:
        cuda = Cuda.load()
        self.open_pipeline(cuda, [HeadOutput("attention", "attention", 1, np.dtype(np.float32))])

    def enqueue(self, slot_index: int, slot: Slot, rows: int) -> None:
        crop = int(np.prod(self.input_shape))
        source, target = slot.device_input.ptr, slot.device_outputs["attention"].ptr

        def compute() -> None:
            crops = np.frombuffer(ctypes.string_at(source, rows * crop), dtype=np.uint8)
            means = crops.reshape(rows, crop).mean(axis=1).astype(np.float32)
            ctypes.memmove(target, means.tobytes(), means.nbytes)

        device.enqueue(self.compute_stream.handle, compute)

    def close(self) -> None:
        self.close_pipeline()


def _batch(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)


def _expected(batch: np.ndarray) -> np.ndarray:
    return batch.reshape(batch.shape[0], -1).mean(axis=1, dtype=np.float64)[:, None]


@pytest.fixture
def runner(fake_cuda: FakeDevice, engine_dir: Path) -> MeanRunner:
    meta = EngineMeta.from_file(engine_dir / "meta.json")
    meta = EngineMeta.from_dict({**meta.raw, "outputs": {"attention": "attention"}})
    mean_runner = MeanRunner(meta, engine_dir / "engine.onnx")
    mean_runner.load()
    return mean_runner


@pytest.mark.parametrize("pinned", [True, False])
def test_overlapped_batches_keep_their_own_heads(runner: MeanRunner, pinned: bool) -> None:
    runner.pinned = pinned
    batches = [_batch(rows, seed) for seed, rows in enumerate([7, 32, 1, 19, 32, 2])]
    results = []
    runner.submit(batches[0])
    for following in batches[1:]:
        runner.submit(following)  # the upload of k+1 is queued before k is collected
        results.append(runner.collect())
    results.append(runner.collect())
    for batch, heads in zip(batches, results, strict=True):
        np.testing.assert_allclose(heads["attention"], _expected(batch), rtol=1e-5)
    runner.close()


def test_streams_run_only_when_waited_on(fake_cuda: FakeDevice) -> None:
    """The fake device's deferral, which the test above relies on to catch missing events."""
    cuda = Cuda.load()
    stream, done = Stream(cuda), Event(cuda)
    host, dev = HostBuffer(cuda, 4), DeviceBuffer(cuda, 4)
    host.array[:] = [1, 2, 3, 4]
    cuda.copy_to_device(dev.ptr, host.ptr, 4, stream)
    done.record(stream)
    host.array[:] = [9, 9, 9, 9]  # pinned memory is read when the copy runs, not when queued
    assert ctypes.string_at(dev.ptr, 4) != bytes([9, 9, 9, 9])
    done.synchronize()
    assert ctypes.string_at(dev.ptr, 4) == bytes([9, 9, 9, 9])


def test_batches_in_batch_buffers_upload_without_a_host_copy(runner: MeanRunner,
                                                             fake_cuda: FakeDevice) -> None:
    """Pinned batch buffers uploaded straight from, back to back: submit() returns with the
    upload still queued, and a buffer is refilled once its batch is collected, as the pod's
    batcher does."""
    buffers = [runner.batch_buffer() for _ in range(3)]
    assert buffers[0].shape == (32, 64, 64, 3)
    assert all(fake_cuda.owner(int(b.ctypes.data)) is not None for b in buffers)  # pinned
    sizes = [7, 32, 1, 19, 32, 2]
    expected, results = [], []
    for index, rows in enumerate(sizes):
        view = buffers[index % 3][:rows]
        view[:] = _batch(rows, index)
        expected.append(_expected(view))
        runner.submit(view)
        assert any(s.done < s.total for s in fake_cuda.streams.values())  # nothing waited for
        if index:
            results.append(runner.collect())
            buffers[(index - 1) % 3][:] = 0  # collected: its buffer is the caller's again
    results.append(runner.collect())
    for want, heads in zip(expected, results, strict=True):
        np.testing.assert_allclose(heads["attention"], want, rtol=1e-5)
    assert not any(slot.host_input.array.any() for slot in runner.slots)  # never copied there
    runner.close()
    assert fake_cuda.memory == {}


def test_pageable_runners_hand_out_plain_buffers(runner: MeanRunner,
                                                 fake_cuda: FakeDevice) -> None:
    runner.pinned = False
    buffer = runner.batch_buffer()
    assert fake_cuda.owner(int(buffer.ctypes.data)) is None
    batch = buffer[:3]
    batch[:] = _batch(3, 0)
    np.testing.assert_allclose(runner.infer(batch)["attention"], _expected(batch), rtol=1e-5)
    runner.close()

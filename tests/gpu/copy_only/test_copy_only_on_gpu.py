"""The copy-only runner on a real GPU: crops reach the device, zero heads of the right shapes
come back, pinned and pageable, one batch at a time and overlapped."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from bench.engines import write_engine
from classroom_inference.runners import open_runner
from classroom_inference.runners.copy_only import CopyOnlyRunner
from classroom_inference.runners.cuda_memory import Cuda, HostBuffer, Stream


def _batch(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)


def _device_bytes(cuda: Cuda, address: int, nbytes: int) -> bytes:
    stream, host = Stream(cuda), HostBuffer(cuda, nbytes)
    cuda.copy_to_host(host.ptr, address, nbytes, stream)
    stream.synchronize()
    data = host.array[:nbytes].tobytes()
    host.free()
    stream.destroy()
    return data


@pytest.mark.parametrize("pinned", [True, False])
def test_crops_go_up_and_zero_heads_come_back(tmp_path: Path, pinned: bool) -> None:
    folder = write_engine(tmp_path, batch=(1, 32, 128))
    probe = open_runner(folder, backend="copy-only")
    runner = CopyOnlyRunner(probe.meta, probe.engine_path, pinned=pinned)
    cuda = Cuda.load()
    with runner:
        for seed, rows in enumerate([1, 128, 17]):
            batch = _batch(rows, seed)
            slot = runner.slots[runner._next_slot]
            heads = runner.infer(batch)
            assert heads["attention"].shape == (rows, 1)
            assert heads["emotion"].shape == (rows, len(probe.meta.emotion_labels))
            assert heads["engagement"].shape == (rows, 1)
            assert not any(v.any() for v in heads.values())
            assert _device_bytes(cuda, slot.device_input.ptr, batch.nbytes) == batch.tobytes()


def test_overlapped_batches(tmp_path: Path) -> None:
    with open_runner(write_engine(tmp_path, batch=(1, 32, 128)), backend="copy-only") as runner:
        runner.submit(_batch(128, 0))
        for rows in (64, 1, 128):
            runner.submit(_batch(rows, rows))
            assert runner.collect()["attention"].dtype == np.float32
        assert runner.collect()["attention"].shape == (128, 1)

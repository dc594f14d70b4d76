"""The copy-only runner through the fake CUDA runtime: shapes, uploads, errors, clean-up."""

from __future__ import annotations

import ctypes
import json
from pathlib import Path

import numpy as np
import pytest
from classroom_inference.runners import open_runner
from classroom_inference.runners.base import (
    BackendUnavailable,
    BatchRejected,
    EngineInvalid,
    RunnerError,
)
from classroom_inference.runners.copy_only import CopyOnlyRunner
from classroom_inference.runners.cuda_memory import CudaError
from unit.gpu_runners.fake_device import FakeDevice


def _batch(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)


def _runner(engine_dir: Path, **kwargs: bool) -> CopyOnlyRunner:
    runner = open_runner(engine_dir, backend="copy-only")
    assert isinstance(runner, CopyOnlyRunner)
    if kwargs:
        runner = CopyOnlyRunner(runner.meta, runner.engine_path, **kwargs)
    return runner


def test_heads_are_zeros_of_the_engine_shapes(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    with _runner(engine_dir) as runner:
        heads = runner.infer(_batch(5))
    assert set(heads) == {"attention", "emotion", "engagement"}
    assert heads["attention"].shape == (5, 1)
    assert heads["emotion"].shape == (5, 4)  # the tiny engine's four emotion labels
    assert heads["engagement"].shape == (5, 1)
    for values in heads.values():
        assert values.dtype == np.float32
        assert not values.any()


@pytest.mark.parametrize("pinned", [True, False])
def test_each_batch_reaches_the_device_input(fake_cuda: FakeDevice, engine_dir: Path,
                                             pinned: bool) -> None:
    with _runner(engine_dir, pinned=pinned) as runner:
        for seed, rows in enumerate([3, 32, 1]):
            batch = _batch(rows, seed)
            slot = runner.slots[runner._next_slot]
            runner.infer(batch)
            uploaded = ctypes.string_at(slot.device_input.ptr, batch.nbytes)
            assert uploaded == batch.tobytes()


def test_results_are_the_callers_own(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    with _runner(engine_dir) as runner:
        first = runner.infer(_batch(2))
        first["attention"][:] = 7.0
        again = runner.infer(_batch(2))
        second = runner.infer(_batch(2))  # same slot as `first`
    assert not again["attention"].any() and not second["attention"].any()


def test_pipeline_depth_is_enforced(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    with _runner(engine_dir) as runner:
        assert runner.pipeline_depth == 2
        with pytest.raises(RunnerError, match="collect"):
            runner.collect()
        runner.submit(_batch(1))
        with pytest.raises(RunnerError, match="infer"):
            runner.infer(_batch(1))
        runner.submit(_batch(2))
        with pytest.raises(RunnerError, match="in flight"):
            runner.submit(_batch(3))
        assert runner.collect()["attention"].shape == (1, 1)
        assert runner.collect()["attention"].shape == (2, 1)


def test_bad_batches_are_rejected(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    with _runner(engine_dir) as runner:
        with pytest.raises(BatchRejected, match="uint8"):
            runner.infer(_batch(2).astype(np.float32))
        with pytest.raises(BatchRejected, match="profile"):
            runner.infer(_batch(33))


def test_emotion_head_without_labels_is_refused(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    meta = json.loads((engine_dir / "meta.json").read_text())
    meta["emotionLabels"] = []
    (engine_dir / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(EngineInvalid, match="emotionLabels"):
        _runner(engine_dir).load()


def test_no_device_is_backend_unavailable(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    fake_cuda.reset(devices=0)
    with pytest.raises(BackendUnavailable, match="cudaErrorNoDevice"):
        _runner(engine_dir).load()


def test_out_of_device_memory_names_the_call(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    fake_cuda.failing.add("cudaMalloc")
    with pytest.raises(CudaError, match=r"cudaMalloc failed: cudaErrorMemoryAllocation"):
        _runner(engine_dir).load()


def test_close_frees_everything_and_may_repeat(fake_cuda: FakeDevice, engine_dir: Path) -> None:
    runner = _runner(engine_dir)
    runner.load()
    runner.submit(_batch(4))  # still in flight when closed
    assert fake_cuda.memory and fake_cuda.streams
    runner.close()
    runner.close()
    assert fake_cuda.memory == {}
    assert fake_cuda.streams == {}
    assert fake_cuda.events == {}
    with pytest.raises(EngineInvalid, match="not loaded"):
        runner.infer(_batch(1))

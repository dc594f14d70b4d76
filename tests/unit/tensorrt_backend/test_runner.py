"""TensorRtRunner through the fake tensorrt on the fake CUDA device.

The fake engine runs the real ONNX with ONNX Runtime on what the runner uploaded, so heads equal
the CPU runner's only if shapes, tensor addresses, slots and stream order are all right.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from bench.engines import write_engine
from classroom_inference.runners import open_runner
from classroom_inference.runners.base import BackendUnavailable, BatchRejected, EngineInvalid
from classroom_inference.runners.tensorrt import TensorRtRunner
from unit.gpu_runners.fake_device import FakeDevice
from unit.tensorrt_backend.conftest import PlanBuilder, write_plan_engine


def _batch(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)


@pytest.fixture
def engine(build: PlanBuilder, tmp_path: Path, fake_cuda: FakeDevice) -> Path:
    build()
    return write_plan_engine(tmp_path / "store" / "00000000000000bb", tmp_path / "engine.plan")


@pytest.fixture
def reference(tmp_path: Path):  # type: ignore[no-untyped-def]
    runner = open_runner(write_engine(tmp_path / "cpu-store"))
    runner.load()
    yield runner
    runner.close()


def test_heads_match_the_onnx_reference(engine: Path, reference) -> None:  # type: ignore[no-untyped-def]
    with open_runner(engine) as runner:
        assert isinstance(runner, TensorRtRunner)
        for seed, rows in enumerate([1, 5, 32, 16]):
            batch = _batch(rows, seed)
            got, want = runner.infer(batch), reference.infer(batch)
            assert set(got) == set(want)
            for head in want:
                assert got[head].shape == want[head].shape
                np.testing.assert_allclose(got[head], want[head], rtol=1e-5, atol=1e-6)


def test_overlapped_batches_keep_their_own_heads(engine: Path, reference) -> None:  # type: ignore[no-untyped-def]
    batches = [_batch(rows, seed) for seed, rows in enumerate([3, 32, 7, 1, 30])]
    with open_runner(engine) as runner:
        runner.submit(batches[0])
        results = []
        for following in batches[1:]:
            runner.submit(following)
            results.append(runner.collect())
        results.append(runner.collect())
    for batch, got in zip(batches, results, strict=True):
        np.testing.assert_allclose(got["attention"], reference.infer(batch)["attention"],
                                   rtol=1e-5)


def test_a_batch_outside_the_profile_is_rejected(engine: Path) -> None:
    with open_runner(engine) as runner, pytest.raises(BatchRejected, match=r"\[1, 32\]"):
        runner.infer(_batch(33, 0))


def test_meta_asking_more_than_the_profile_is_refused(engine: Path, tmp_path: Path) -> None:
    folder = write_plan_engine(tmp_path / "bigger", engine / "engine.plan", batch=(1, 16, 64))
    with pytest.raises(EngineInvalid, match=r"profile max \[32, 64, 64, 3\] does not take \[64"):
        open_runner(folder).load()


def test_meta_with_another_input_name_is_refused(engine: Path) -> None:
    meta = json.loads((engine / "meta.json").read_text())
    meta["input"]["name"] = "faces"
    (engine / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(EngineInvalid, match=r"engine inputs are \['crops'\]"):
        open_runner(engine).load()


def test_a_plan_of_another_tensorrt_names_the_versions(engine: Path,
                                                       fake_trt: ModuleType,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fake_trt, "__version__", "11.4.0.106")
    with pytest.raises(EngineInvalid, match=r"TensorRT 11\.4\.0\.106 cannot load .*10\.16"):
        open_runner(engine).load()


def test_version_compatible_plans_load_only_when_meta_says_so(build: PlanBuilder,
                                                              tmp_path: Path,
                                                              fake_cuda: FakeDevice) -> None:
    build(version_compatible=True)
    plain = write_plan_engine(tmp_path / "plain", tmp_path / "engine.plan")
    with pytest.raises(EngineInvalid, match="engine_host_code_allowed"):
        open_runner(plain).load()
    marked = write_plan_engine(tmp_path / "marked", tmp_path / "engine.plan",
                               versionCompatible=True)
    with open_runner(marked) as runner:
        assert runner.infer(_batch(2, 0))["attention"].shape == (2, 1)


def test_without_tensorrt_the_backend_is_unavailable(engine: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(BackendUnavailable, match="tensorrt is not importable"):
        open_runner(engine).load()


def test_close_releases_the_device(engine: Path, fake_cuda: FakeDevice) -> None:
    runner = open_runner(engine)
    runner.load()
    runner.infer(_batch(4, 0))
    runner.close()
    runner.close()
    assert fake_cuda.memory == {} and fake_cuda.streams == {} and fake_cuda.events == {}

"""On a node without a GPU, the GPU runners refuse to load with a clear reason (real libraries)."""

from __future__ import annotations

from pathlib import Path

import pytest
from classroom_inference.runners import open_runner
from classroom_inference.runners.base import BackendUnavailable


def _has_cuda_device() -> bool:
    try:
        from cuda.bindings import runtime
    except ImportError:
        return False
    err, count = runtime.cudaGetDeviceCount()
    return bool(err == runtime.cudaError_t.cudaSuccess and count > 0)


pytestmark = pytest.mark.skipif(_has_cuda_device(), reason="this machine has a CUDA device")


def test_copy_only_runner_needs_a_cuda_device(engine_dir: Path) -> None:
    runner = open_runner(engine_dir, backend="copy-only")
    with pytest.raises(BackendUnavailable, match="CUDA"):
        runner.load()


def test_onnxruntime_cuda_runner_names_the_missing_package(engine_dir: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    runner = open_runner(engine_dir, backend="onnxruntime-cuda")
    with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
        runner.load()

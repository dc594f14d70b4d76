"""ONNX Runtime CUDA runner: the provider options it asks for."""

from __future__ import annotations

from pathlib import Path

import pytest
from classroom_inference.runners import open_runner
from classroom_inference.runners.base import EngineInvalid
from classroom_inference.runners.onnxruntime_cuda import OnnxRuntimeCudaRunner


def _runner(engine_dir: Path) -> OnnxRuntimeCudaRunner:
    runner = open_runner(engine_dir, backend="onnxruntime-cuda")
    assert isinstance(runner, OnnxRuntimeCudaRunner)
    return runner


def test_options_follow_the_environment(engine_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSROOM_ORT_PREFER_NHWC", "0")
    monkeypatch.setenv("CLASSROOM_ORT_CUDA_GRAPH", "1")
    runner = _runner(engine_dir)
    assert (runner.prefer_nhwc, runner.cuda_graph) == (False, True)
    options = runner.provider_options(1234, cuda_graph=runner.cuda_graph)
    assert options["user_compute_stream"] == "1234"
    assert options["enable_cuda_graph"] == "1"
    assert "prefer_nhwc" not in options


def test_defaults_are_nhwc_and_graphs(engine_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CLASSROOM_ORT_PREFER_NHWC", raising=False)
    monkeypatch.delenv("CLASSROOM_ORT_CUDA_GRAPH", raising=False)
    options = _runner(engine_dir).provider_options(1, cuda_graph=False)
    assert options["prefer_nhwc"] == "1"
    assert "enable_cuda_graph" not in options


def test_a_bad_flag_names_the_variable(engine_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSROOM_ORT_CUDA_GRAPH", "yes")
    with pytest.raises(EngineInvalid, match="CLASSROOM_ORT_CUDA_GRAPH must be 0 or 1"):
        _runner(engine_dir)

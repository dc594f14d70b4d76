"""The ONNX Runtime CUDA runner gives the CPU runner's heads, within the GPU's arithmetic: fp16
rounding for fp16 engines, TF32 for fp32 ones."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from classroom_inference.runners import open_runner
from classroom_inference.runners.onnxruntime_cpu import OnnxRuntimeCpuRunner
from classroom_inference.runners.onnxruntime_cuda import OnnxRuntimeCudaRunner


def _batch(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)


def _tolerance(engine: Path) -> float:
    """fp16 engines differ from the fp32 CPU reference by fp16 rounding, no more. fp32 engines run
    their convolutions and matrix products in TF32 on Ampere and later (ONNX Runtime's CUDA
    provider, like TensorRT, turns it on by default): a 10-bit mantissa, so heads move by a few
    parts in a thousand (measured on an H200: at most 9e-4 absolute, 4e-3 relative)."""
    return 1e-2 if json.loads((engine / "meta.json").read_text())["precision"] == "fp16" else 5e-3


@pytest.mark.parametrize("cuda_graph", [False, True])
@pytest.mark.parametrize("prefer_nhwc", [False, True])
def test_heads_match_the_cpu_runner(reference_engine: Path, cuda_graph: bool,
                                    prefer_nhwc: bool) -> None:
    cpu = open_runner(reference_engine, backend="onnxruntime-cpu")
    assert isinstance(cpu, OnnxRuntimeCpuRunner)
    probe = open_runner(reference_engine, backend="onnxruntime-cuda")
    gpu = OnnxRuntimeCudaRunner(probe.meta, probe.engine_path, cuda_graph=cuda_graph,
                                prefer_nhwc=prefer_nhwc)
    tolerance = _tolerance(reference_engine)
    with cpu, gpu:
        assert gpu.cuda_graph == cuda_graph, "ONNX Runtime refused CUDA graphs for this engine"
        gpu.warm_up(iterations=1)
        for seed, rows in enumerate([1, 7, 32, 64, 3]):
            batch = _batch(rows, seed)
            got, want = gpu.infer(batch), cpu.infer(batch)
            assert set(got) == set(want)
            for head in want:
                assert got[head].shape == want[head].shape
                np.testing.assert_allclose(got[head], want[head], atol=tolerance, rtol=tolerance)


def test_overlapped_batches_keep_their_own_heads(reference_engine: Path) -> None:
    batches = [_batch(rows, seed) for seed, rows in enumerate([5, 64, 1, 33, 64, 2])]
    cpu = open_runner(reference_engine, backend="onnxruntime-cpu")
    gpu = open_runner(reference_engine, backend="onnxruntime-cuda")
    tolerance = _tolerance(reference_engine)
    with cpu, gpu:
        gpu.warm_up(iterations=1)
        gpu.submit(batches[0])
        results = []
        for following in batches[1:]:
            gpu.submit(following)
            results.append(gpu.collect())
        results.append(gpu.collect())
        for batch, got in zip(batches, results, strict=True):
            want = cpu.infer(batch)
            for head in want:
                np.testing.assert_allclose(got[head], want[head], atol=tolerance, rtol=tolerance)


def test_the_session_really_runs_on_cuda(reference_engine: Path) -> None:
    gpu = open_runner(reference_engine, backend="onnxruntime-cuda")
    assert isinstance(gpu, OnnxRuntimeCudaRunner)
    with gpu:
        assert gpu._session.get_providers()[0] == "CUDAExecutionProvider"
        assert gpu.options["user_compute_stream"] == str(gpu.compute_stream.address)

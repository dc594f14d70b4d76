"""The ONNX Runtime CUDA runner's logic through fake_onnxruntime on the fake CUDA device.

The fake session runs the real model on what the runner bound, so heads equal the CPU runner's
only if bindings, padding, slots and stream order are right.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import ModuleType

import numpy as np
import onnx
import onnxruntime as real_onnxruntime
import pytest
from bench.engines import write_engine
from classroom_inference.runners import open_runner
from classroom_inference.runners.base import BackendUnavailable, RunnerError
from classroom_inference.runners.onnxruntime_cuda import OnnxRuntimeCudaRunner
from onnx import TensorProto, helper
from unit.gpu_runners.fake_device import FakeDevice

# The engine runs every batch padded to the profile's max, and a matrix product over more rows
# may sum in another order: heads agree with an unpadded run to float rounding, not bit for bit.
RTOL = 1e-5


def _batch(rows: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (rows, 64, 64, 3), dtype=np.uint8)


def _expected(engine_dir: Path, batch: np.ndarray) -> dict[str, np.ndarray]:
    """The heads from the real onnxruntime on the CPU (bound at import, before any fake)."""
    session = real_onnxruntime.InferenceSession(str(engine_dir / "engine.onnx"),
                                                providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {"crops": batch}), strict=True))


def _cuda_runner(engine_dir: Path, **options: bool) -> OnnxRuntimeCudaRunner:
    probe = open_runner(engine_dir, backend="onnxruntime-cuda")
    return OnnxRuntimeCudaRunner(probe.meta, probe.engine_path, **options)


@pytest.mark.parametrize("cuda_graph", [False, True])
@pytest.mark.parametrize("prefer_nhwc", [False, True])
def test_heads_match_the_onnx_reference(fake_ort: ModuleType, engine_dir: Path,
                                        cuda_graph: bool, prefer_nhwc: bool) -> None:
    with _cuda_runner(engine_dir, cuda_graph=cuda_graph, prefer_nhwc=prefer_nhwc) as runner:
        assert runner.cuda_graph is cuda_graph
        for seed, rows in enumerate([1, 5, 32, 3, 5, 17]):
            batch = _batch(rows, seed)
            got, want = runner.infer(batch), _expected(engine_dir, batch)
            for head in want:
                assert got[head].shape == want[head].shape
                np.testing.assert_allclose(got[head], want[head], rtol=RTOL)


def test_overlapped_batches_keep_their_own_heads(fake_ort: ModuleType, engine_dir: Path) -> None:
    batches = [_batch(rows, seed) for seed, rows in enumerate([3, 32, 7, 1, 30, 2])]
    with _cuda_runner(engine_dir, cuda_graph=True) as runner:
        runner.submit(batches[0])
        results = []
        for following in batches[1:]:
            runner.submit(following)
            results.append(runner.collect())
        results.append(runner.collect())
    for batch, got in zip(batches, results, strict=True):
        np.testing.assert_allclose(got["emotion"], _expected(engine_dir, batch)["emotion"],
                                   rtol=RTOL)


def test_the_session_gets_the_pipeline_stream_and_runs_async(fake_ort: ModuleType,
                                                             fake_cuda: FakeDevice,
                                                             engine_dir: Path) -> None:
    with _cuda_runner(engine_dir, cuda_graph=False, prefer_nhwc=True) as runner:
        session = fake_ort._settings["sessions"][-1]
        assert session._options == {
            "device_id": "0", "has_user_compute_stream": "1", "prefer_nhwc": "1",
            "user_compute_stream": str(runner.compute_stream.address),
        }
        assert runner.options == session._options
        runner.submit(_batch(4, 0))
        runner.on_engine_thread(lambda: None)  # the batch is queued on the compute stream
        stream = fake_cuda.streams[runner.compute_stream.address]
        assert stream.done < stream.total  # Run() returned with the work still queued
        runner.collect()


def test_warm_up_captures_one_graph_per_slot_at_the_profile_max(fake_ort: ModuleType,
                                                                engine_dir: Path) -> None:
    with _cuda_runner(engine_dir, cuda_graph=True) as runner:
        runner.warm_up(iterations=1)
        graphs = fake_ort._settings["sessions"][-1]._graphs
        assert len(graphs) == 2
        assert [bound["crops"][2][0] for bound in graphs.values()] == [32, 32]


@pytest.mark.parametrize("cuda_graph", [False, True])
def test_the_engine_runs_one_shape_whatever_the_batch(fake_ort: ModuleType, engine_dir: Path,
                                                      cuda_graph: bool) -> None:
    """ONNX Runtime's convolutions keep state for the shape they last ran (a graph of another
    size captured earlier then replays stale pointers), and a size not seen before costs an
    algorithm search: partial batches are padded to the profile's max, heads cut back."""
    with _cuda_runner(engine_dir, cuda_graph=cuda_graph) as runner:
        runner.warm_up(iterations=1)
        batches = [_batch(rows, seed) for seed, rows in enumerate([1, 17, 32, 5])]
        results = [runner.infer(batch) for batch in batches]
        session = fake_ort._settings["sessions"][-1]
        assert set(session._input_shapes) == {(32, 64, 64, 3)}
    for batch, got in zip(batches, results, strict=True):
        assert got["attention"].shape[0] == len(batch)
        np.testing.assert_allclose(got["attention"], _expected(engine_dir, batch)["attention"],
                                   rtol=RTOL)


def test_graphs_captured_at_warm_up_serve_batches_submitted_from_other_threads(
        fake_ort: ModuleType, engine_dir: Path) -> None:
    """The pod warms the engine up in one thread and its batcher submits from another (a new
    one each time the batcher starts); ONNX Runtime's graphs are per thread, so the session
    must run on one thread whoever submits, or every graph is captured again mid-serving."""
    with _cuda_runner(engine_dir, cuda_graph=True) as runner:
        runner.warm_up(iterations=1)
        graphs = fake_ort._settings["sessions"][-1]._graphs
        captured = dict(graphs)
        results: list[dict[str, np.ndarray]] = []
        batches = [_batch(rows, seed) for seed, rows in enumerate([3, 32, 7, 1, 17])]

        def serve() -> None:
            for batch in batches:
                results.append(runner.infer(batch))

        for _ in range(2):  # two batchers, one after the other
            worker = threading.Thread(target=serve)
            worker.start()
            worker.join()
        assert graphs == captured
        assert len({thread for thread, _ in graphs}) == 1
    for batch, got in zip(batches * 2, results, strict=True):
        np.testing.assert_allclose(got["attention"], _expected(engine_dir, batch)["attention"],
                                   rtol=RTOL)


def test_an_engine_error_reaches_the_caller_and_the_runner_goes_on(
        fake_ort: ModuleType, engine_dir: Path) -> None:
    with _cuda_runner(engine_dir, cuda_graph=False) as runner:
        session = fake_ort._settings["sessions"][-1]
        real_run = session.run_with_iobinding

        def failing(*args: object) -> None:
            raise RuntimeError("CUDA failure 700: an illegal memory access")

        session.run_with_iobinding = failing
        with pytest.raises(RunnerError, match="illegal memory access"):
            runner.infer(_batch(2, 0))
        session.run_with_iobinding = real_run
        batch = _batch(5, 1)
        np.testing.assert_allclose(runner.infer(batch)["attention"],
                                   _expected(engine_dir, batch)["attention"], rtol=RTOL)


def test_a_refused_graph_falls_back_to_plain_runs(fake_ort: ModuleType, engine_dir: Path) -> None:
    fake_ort._settings["refuse_graph"] = True
    with _cuda_runner(engine_dir, cuda_graph=True) as runner:
        assert runner.cuda_graph is False
        assert "enable_cuda_graph" not in runner.options
        batch = _batch(6, 1)
        np.testing.assert_allclose(runner.infer(batch)["attention"],
                                   _expected(engine_dir, batch)["attention"], rtol=RTOL)


def test_a_silent_fallback_to_the_cpu_is_refused(fake_ort: ModuleType, engine_dir: Path) -> None:
    fake_ort._settings["cpu_fallback"] = True
    with pytest.raises(BackendUnavailable, match="fell back to CPUExecutionProvider"):
        _cuda_runner(engine_dir).load()


def test_without_the_cuda_provider_the_package_is_named(fake_ort: ModuleType,
                                                        engine_dir: Path) -> None:
    fake_ort._settings["available"] = ["CPUExecutionProvider"]
    with pytest.raises(BackendUnavailable, match="onnxruntime-gpu"):
        _cuda_runner(engine_dir).load()


def _fp16_heads(engine_dir: Path) -> Path:
    """The engine with every head cast to float16, as an fp16 engine may give them."""
    path = engine_dir / "engine.onnx"
    model = onnx.load(str(path))
    for output in model.graph.output:
        producer = next(n for n in model.graph.node if output.name in n.output)
        producer.output[list(producer.output).index(output.name)] = output.name + "/float"
        model.graph.node.append(helper.make_node("Cast", [output.name + "/float"],
                                                 [output.name], to=TensorProto.FLOAT16))
        output.type.tensor_type.elem_type = TensorProto.FLOAT16
    onnx.save(model, str(path))
    return engine_dir


def test_fp16_heads_come_back_as_float32(fake_ort: ModuleType, tmp_path: Path) -> None:
    reference = write_engine(tmp_path / "fp32", batch=(1, 16, 32))
    half = _fp16_heads(write_engine(tmp_path / "fp16", batch=(1, 16, 32)))
    batch = _batch(9, 3)
    with _cuda_runner(half, cuda_graph=True) as runner:
        got = runner.infer(batch)
    want = _expected(reference, batch)
    for head in want:
        assert got[head].dtype == np.float32
        np.testing.assert_allclose(got[head], want[head], atol=2e-3)

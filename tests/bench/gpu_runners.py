"""GPU runner benchmark: crops/s of the ONNX Runtime CUDA runner and of the pod's copy ceiling.

On the device machine (NVIDIA GPU, onnxruntime-gpu, cuda-python; torch for the model):

    .venv/bin/python tests/bench/gpu_runners.py [--seconds 1.0] [--batches 1,32,128,256]
    .venv/bin/pytest tests/bench/test_gpu_runners.py -m bench -s

Model: MobileNetV3-small at 224x224 (torchvision, random weights, exported with torch.onnx on the
machine itself; no download), or the builder's reference model where torchvision is missing.
The builder's preprocessing fusion gives the uint8 NHWC engine; fp16 is the builder's
mixed-precision conversion where onnxconverter-common is installed, else torch's half export.

Paths measured, each at every batch size:
- uint8 engine through OnnxRuntimeCudaRunner, crops uploaded from the runner's pinned batch
  buffers with the next batch's upload overlapping the current compute (submit/collect),
  fp32/fp16, prefer_nhwc on/off, CUDA graphs on/off; and the same engine with the batch already
  on the GPU (compute only);
- float NCHW input fed from host numpy each run (what the pod would do without the fusion);
- the copy-only runner (upload and download, no model) from pinned batch buffers, from numpy
  copied into its pinned slots, and from pageable numpy.
Figures are printed and written to bench-results/gpu_runners.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
SIZE = 224
# The emotion head has eight classes, as an expression model's does (FER+'s eight). ImageNet's
# 1000 logits read as "emotion" made every student summary a mix of 1000 labels: seconds of
# Python and JSON on the pod's event loop every summary, which showed as engine latency.
EMOTIONS = 8
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _float_model(work: Path) -> tuple[Path, dict[str, str], str]:
    """A float NCHW model, its outputs by head, and where it came from."""
    path = work / "float-fp32.onnx"
    try:
        import torch
        import torchvision

        net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=EMOTIONS).eval()
        example = torch.zeros(2, 3, SIZE, SIZE)
        kwargs: dict[str, Any] = dict(input_names=["input"], output_names=["logits"],
                                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}},
                                      opset_version=17)
        try:
            torch.onnx.export(net, (example,), str(path), dynamo=False, **kwargs)
        except TypeError:  # a torch without the dynamo switch exports this way already
            torch.onnx.export(net, (example,), str(path), **kwargs)
        origin = (f"torchvision {torchvision.__version__} mobilenet_v3_small, "
                  f"{EMOTIONS}-class emotion head")
        return path, {"emotion": "logits"}, origin
    except Exception as exc:  # no torchvision, or an exporter that needs missing packages
        import onnx
        from classroom_inference.builder.reference_model import reference_model, reference_spec

        onnx.save(reference_model(size=SIZE), str(path))
        outputs = dict(reference_spec("file:///r.onnx", "0" * 64, size=SIZE)["outputs"])
        return path, outputs, f"builder reference model (MobileNetV3 export failed: {exc})"


def _fused(float_path: Path, outputs: dict[str, str]) -> Any:
    import onnx
    from classroom_inference.builder.preprocess import fuse_preprocessing
    from classroom_inference.builder.spec import InputSpec, ModelSpec

    spec = ModelSpec(
        uri="file:///bench.onnx", sha256="0" * 64,
        input=InputSpec(name="input", channels=3, height=SIZE, width=SIZE, layout="NCHW",
                        color_order="RGB", mean=IMAGENET_MEAN, std=IMAGENET_STD),
        outputs=outputs, emotion_labels=(),
    )
    return fuse_preprocessing(onnx.load(str(float_path)), spec)


def _fp16(model: Any, float_path: Path, work: Path, name: str, fused: bool) -> tuple[Any, str]:
    """`model` in fp16: the builder's conversion, or torch's half export of the same network."""
    try:
        from classroom_inference.builder.precision import to_fp16

        return to_fp16(model), "builder mixed-precision (onnxconverter-common)"
    except ImportError:
        pass
    import onnx
    import torch
    import torchvision

    net = torchvision.models.mobilenet_v3_small(weights=None, num_classes=EMOTIONS).eval().half()
    mean = torch.tensor(IMAGENET_MEAN).view(1, 1, 1, 3)
    std = torch.tensor(IMAGENET_STD).view(1, 1, 1, 3)

    class Half(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if fused:  # uint8 NHWC crops, normalised in fp32 as the builder's fusion does
                x = ((x.float() / 255.0 - mean) / std).permute(0, 3, 1, 2)
            return net(x.half()).float()

    example = (torch.zeros(2, SIZE, SIZE, 3, dtype=torch.uint8) if fused
               else torch.zeros(2, 3, SIZE, SIZE))
    path = work / f"{name}.onnx"
    head = "emotion" if fused else "logits"
    input_name = "crops" if fused else "input"
    torch.onnx.export(Half(), (example,), str(path), dynamo=False, input_names=[input_name],
                      output_names=[head], opset_version=17,
                      dynamic_axes={input_name: {0: "N"}, head: {0: "N"}})
    return onnx.load(str(path)), "torch half export (onnxconverter-common missing)"


def _store(folder: Path, model: Any, precision: str, heads: list[str], max_batch: int) -> Path:
    import onnx

    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "engine.onnx"))
    widths = {o.name: o.type.tensor_type.shape.dim[1].dim_value for o in model.graph.output}
    meta = {
        "schemaVersion": 1, "fingerprint": folder.name, "backend": "onnxruntime-cuda",
        "engineFile": "engine.onnx", "precision": precision,
        "input": {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                  "height": SIZE, "width": SIZE, "channels": 3},
        "batch": {"min": 1, "opt": max_batch, "max": max_batch},
        "outputs": {h: h for h in heads},
        "emotionLabels": [f"class{i}" for i in range(widths.get("emotion", 0))],
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


def _timed(step: Callable[[], int], seconds: float) -> float:
    """Crops per second of `step` (which returns the crops it handled) run for `seconds`."""
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        done += step()
    return done / (time.perf_counter() - start)


def _crops(rows: int, count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(rows)
    return [rng.integers(0, 256, (rows, SIZE, SIZE, 3), dtype=np.uint8) for _ in range(count)]


def _in_batch_buffers(runner: Any, rows: int) -> list[np.ndarray]:
    """Two of the runner's own (pinned) batch buffers holding crops, as the pod's batcher fills
    them: batches uploaded with no host copy."""
    views = []
    for crops in _crops(rows):
        view = runner.batch_buffer()[:rows]
        view[:] = crops
        views.append(view)
    return views


def _pipelined(runner: Any, batches: list[np.ndarray], seconds: float) -> float:
    """Upload of batch k+1 queued before batch k is collected, as the pod's batcher does."""
    position = [0]
    runner.submit(batches[0])

    def step() -> int:
        position[0] += 1
        runner.submit(batches[position[0] % len(batches)])
        return int(runner.collect()["emotion" if "emotion" in runner.heads
                                    else runner.heads[0]].shape[0])

    rate = _timed(step, seconds)
    runner.collect()
    return rate


def _on_device(runner: Any, rows: int, seconds: float) -> float:
    """The engine alone, its input already on the GPU: no upload, no download."""
    slot = runner.slots[0]

    def ten() -> None:  # where the engine runs: ONNX Runtime's graphs are per thread
        for _ in range(10):
            runner.enqueue(0, slot, rows)

    def step() -> int:
        runner.on_engine_thread(ten)
        runner.compute_stream.synchronize()
        return 10 * rows

    return _timed(step, seconds)


def bench_uint8(engine: Path, precision: str, batches: list[int], seconds: float,
                results: list[dict[str, Any]]) -> None:
    from classroom_inference.runners import open_runner
    from classroom_inference.runners.onnxruntime_cuda import OnnxRuntimeCudaRunner

    probe = open_runner(engine, backend="onnxruntime-cuda")
    for prefer_nhwc in (False, True):
        for cuda_graph in (False, True):
            runner = OnnxRuntimeCudaRunner(probe.meta, probe.engine_path,
                                           prefer_nhwc=prefer_nhwc, cuda_graph=cuda_graph)
            with runner:
                for rows in batches:
                    crops = _in_batch_buffers(runner, rows)
                    for _ in range(4):  # each slot's graph for this bucket is captured here
                        runner.infer(crops[0])
                    results.append({
                        "path": "uint8 NHWC, pinned, overlapped", "precision": precision,
                        "preferNhwc": prefer_nhwc, "cudaGraph": runner.cuda_graph,
                        "batch": rows,
                        "cropsPerSecond": round(_pipelined(runner, crops, seconds), 1),
                        "onDeviceCropsPerSecond": round(_on_device(runner, rows, seconds), 1),
                    })
                    _print(results[-1])


def bench_float(model_path: Path, precision: str, batches: list[int], seconds: float,
                results: list[dict[str, Any]]) -> None:
    import onnxruntime as ort

    for prefer_nhwc in (False, True):
        options = {"prefer_nhwc": "1"} if prefer_nhwc else {}
        session = ort.InferenceSession(str(model_path),
                                       providers=[("CUDAExecutionProvider", options)])
        name = session.get_inputs()[0].name
        for rows in batches:
            batch = np.random.default_rng(rows).normal(size=(rows, 3, SIZE, SIZE))
            feed = {name: batch.astype(np.float32)}
            for _ in range(3):
                session.run(None, feed)

            def step(session: Any = session, feed: dict[str, np.ndarray] = feed,
                     rows: int = rows) -> int:
                session.run(None, feed)
                return rows

            results.append({
                "path": "float NCHW from host numpy", "precision": precision,
                "preferNhwc": prefer_nhwc, "cudaGraph": False, "batch": rows,
                "cropsPerSecond": round(_timed(step, seconds), 1),
            })
            _print(results[-1])


def bench_copy_only(engine: Path, batches: list[int], seconds: float,
                    results: list[dict[str, Any]]) -> None:
    from classroom_inference.runners import open_runner
    from classroom_inference.runners.copy_only import CopyOnlyRunner

    probe = open_runner(engine, backend="copy-only")
    crop_bytes = SIZE * SIZE * 3
    modes = [("pinned batch buffers", True, _in_batch_buffers),
             ("numpy copied into pinned slots", True, lambda _, rows: _crops(rows)),
             ("pageable numpy", False, lambda _, rows: _crops(rows))]
    for label, pinned, inputs in modes:
        with CopyOnlyRunner(probe.meta, probe.engine_path, pinned=pinned) as runner:
            for rows in batches:
                crops = inputs(runner, rows)
                runner.infer(crops[0])
                rate = _pipelined(runner, crops, seconds)
                results.append({
                    "path": f"copy-only, {label}", "batch": rows,
                    "cropsPerSecond": round(rate, 1),
                    "uploadGBps": round(rate * crop_bytes / 1e9, 2),
                })
                _print(results[-1])


def _print(row: dict[str, Any]) -> None:
    flags = " ".join(f"{k}={row[k]}" for k in ("precision", "preferNhwc", "cudaGraph") if k in row)
    extra = (f"  on-GPU {row['onDeviceCropsPerSecond']:>10,.0f}/s"
             if "onDeviceCropsPerSecond" in row else "")
    extra += f"  {row['uploadGBps']:.1f} GB/s" if "uploadGBps" in row else ""
    print(f"{row['path']:<38} {flags:<45} batch {row['batch']:>4}: "
          f"{row['cropsPerSecond']:>10,.0f} crops/s{extra}", flush=True)


def cuda_device_present() -> bool:
    """Whether this machine has an NVIDIA GPU (without cuda-python, its device node tells)."""
    try:
        from cuda.bindings import runtime
    except ImportError:
        return Path("/dev/nvidia0").exists()
    err, count = runtime.cudaGetDeviceCount()
    return bool(err == runtime.cudaError_t.cudaSuccess and count > 0)


def _device_name() -> str:
    from cuda.bindings import runtime

    err, props = runtime.cudaGetDeviceProperties(0)
    return str(props.name.decode()) if err == runtime.cudaError_t.cudaSuccess else "unknown"


def run(batches: list[int], seconds: float, out: Path) -> dict[str, Any]:
    import onnx
    import onnxruntime as ort

    report: dict[str, Any] = {"device": _device_name(), "onnxruntime": ort.__version__,
                              "inputSize": SIZE, "seconds": seconds, "results": [],
                              "copyOnly": [], "errors": []}
    max_batch = max(batches)

    def attempt(what: str, action: Callable[[], None]) -> None:
        try:
            action()
        except Exception as exc:  # one failing path must not hide the others' figures
            report["errors"].append({"path": what, "error": f"{type(exc).__name__}: {exc}"})
            traceback.print_exc()

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        float_path, outputs, report["model"] = _float_model(work)
        heads = sorted(outputs)
        fused = _fused(float_path, outputs)
        engines = {"fp32": _store(work / "uint8-fp32", fused, "fp32", heads, max_batch)}
        floats = {"fp32": float_path}
        try:
            half, report["fp16"] = _fp16(fused, float_path, work, "uint8-fp16", fused=True)
            engines["fp16"] = _store(work / "uint8-fp16", half, "fp16", heads, max_batch)
            float_half, _ = _fp16(onnx.load(str(float_path)), float_path, work, "float-fp16",
                                  fused=False)
            floats["fp16"] = work / "float-fp16.onnx"
            onnx.save(float_half, str(floats["fp16"]))
        except Exception as exc:
            report["errors"].append({"path": "fp16 conversion", "error": repr(exc)})
        for precision, engine in engines.items():
            attempt(f"uint8 {precision}", partial(bench_uint8, engine, precision, batches,
                                                  seconds, report["results"]))
        for precision, path in floats.items():
            attempt(f"float {precision}", partial(bench_float, path, precision, batches,
                                                  seconds, report["results"]))
        attempt("copy-only", partial(bench_copy_only, engines["fp32"], batches, seconds,
                                     report["copyOnly"]))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"wrote {out}")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=1.0, help="measuring time per figure")
    parser.add_argument("--batches", default="1,32,128,256", help="comma-separated batch sizes")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "gpu_runners.json")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",")]
    report = run(batches, args.seconds, args.out)
    return 1 if report["errors"] else 0


if __name__ == "__main__":
    # Run as a script from a checkout: the package and the test helpers come from the tree.
    sys.path[:0] = [str(ROOT / "inference_pod"), str(ROOT / "tests")]
    sys.exit(main())

"""The full build path at fp32, fp16 and int8: build time, accuracy against the fp32 ONNX
reference, and throughput at the profile's batch sizes, on ONNX Runtime CPU or CUDA.

Run on demand (figures printed, JSON written):

    .venv/bin/python tests/bench/builder_precision.py --out bench-results/builder_precision.json
    # on a GPU machine (onnxruntime-gpu, cuda-python; torch + torchvision for --model mobilenet):
    python tests/bench/builder_precision.py --backend onnxruntime-cuda --model mobilenet \
        --batch-max 256 --out bench-results/builder_cuda.json

Models: the builder's reference model, or a MobileNetV3-small backbone (torchvision, random
weights, exported with torch.onnx on the machine itself) with attention, 7-class emotion and
engagement heads: the MobileNetV3-class model the GPU figures are quoted for.

Each precision is a real `classroom-inference build` into a fresh store, as a build Job runs it;
int8 calibrates on 256 synthetic face crops written as PNG files.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import onnxruntime
from classroom_inference.builder.cli import register
from classroom_inference.builder.samples import synthetic_faces, write_images

PRECISIONS = ("fp32", "fp16", "int8")


def _command(argv: list[str]) -> tuple[int, str]:
    top = argparse.ArgumentParser(prog="classroom-inference")
    register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code: int = args.run(args)
    return code, out.getvalue()


def _mobilenet(size: int, work: Path) -> dict[str, Any]:
    """MobileNetV3-small with three heads, exported here; its `model:` spec."""
    import hashlib

    import torch
    import torchvision
    from classroom_inference.builder.reference_model import reference_spec

    class ThreeHeads(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(7)
            net = torchvision.models.mobilenet_v3_small(weights=None)
            self.features, self.pool = net.features, net.avgpool
            self.attention = torch.nn.Linear(576, 1)
            self.emotion = torch.nn.Linear(576, 7)
            self.engagement = torch.nn.Linear(576, 1)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
            f = torch.flatten(self.pool(self.features(x)), 1)
            # Unit-scale features keep random heads out of saturation, where every precision
            # would agree trivially (sigmoid 1.0, one-hot softmax).
            f = torch.nn.functional.layer_norm(f, (576,))
            return (torch.sigmoid(self.attention(f)), torch.softmax(self.emotion(f), 1),
                    torch.sigmoid(self.engagement(f)))

    net = ThreeHeads()
    # Random weights with default batch-norm statistics saturate every head; a few training-mode
    # passes over normalised face-like crops give the statistics a trained model would have, so
    # the heads vary across crops and the accuracy figures mean something.
    from classroom_inference.builder.samples import synthetic_faces

    faces = synthetic_faces(64, (size, size, 3), seed=99).astype("float32") / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    batch = (torch.from_numpy(faces).permute(0, 3, 1, 2) - mean) / std
    net.train()
    with torch.no_grad():
        for _ in range(10):
            net(batch)
    path = work / "mobilenet.onnx"
    names = ["attention_score", "emotion_probs", "engagement_score"]
    torch.onnx.export(net.eval(), (torch.zeros(2, 3, size, size),), str(path),
                      input_names=["input"], output_names=names, opset_version=17,
                      dynamic_axes={n: {0: "N"} for n in ["input", *names]}, dynamo=False)
    sha = hashlib.sha256(path.read_bytes()).hexdigest()
    return reference_spec(path.as_uri(), sha, size)


def run(size: int, samples: int, measure_seconds: float, work: Path, *, backend: str,
        model_name: str, batch_max: int) -> dict[str, Any]:
    if model_name == "mobilenet":
        model = _mobilenet(size, work)
    else:
        model_path = work / "reference.onnx"
        code, printed = _command(["reference-model", "--out", str(model_path),
                                  "--size", str(size)])
        assert code == 0, printed
        model = json.loads(printed)["model"]
    calibration = work / "calibration"
    write_images(synthetic_faces(samples, (size, size, 3), seed=1234), calibration)
    results: dict[str, Any] = {}
    for index, precision in enumerate(PRECISIONS):
        spec = {"model": model,
                "engine": {"precision": precision, "batch": {"min": 1, "opt": 32, "max": batch_max},
                           "calibration": {"uri": calibration.as_uri(), "samples": samples}},
                "validation": {"samples": samples, "minEmotionAgreement": 0.0,
                               "maxAttentionError": 1.0, "maxEngagementError": 1.0},
                "gpu": {}}
        spec_file = work / f"{precision}.json"
        spec_file.write_text(json.dumps(spec))
        store = work / f"store-{precision}"
        fingerprint = f"{index:016x}"
        started = time.perf_counter()
        code, printed = _command([
            "build", "--fingerprint", fingerprint, "--backend", backend,
            "--gpu-class", "cpu" if backend == "onnxruntime-cpu" else "gpu",
            "--store", str(store), "--spec", str(spec_file),
            "--measure-seconds", str(measure_seconds)])
        wall = time.perf_counter() - started
        summary = json.loads(printed.strip().splitlines()[-1])
        assert code == 0, summary
        meta = json.loads((store / fingerprint / "meta.json").read_text())
        # The measuring step runs each batch size for its time budget; the rest is the build.
        measuring = len(meta["throughput"]) * measure_seconds
        results[precision] = {
            "buildSecondsTotal": round(wall, 2),
            "buildSecondsLessMeasureBudget": round(wall - measuring, 2),
            "engineBytes": meta["sizeBytes"],
            "attentionMae": summary["validation"]["attentionMae"],
            "emotionAgreement": summary["validation"]["emotionAgreement"],
            "engagementMae": summary["validation"]["engagementMae"],
            "cropsPerSecond": meta["throughput"],
            "latencyMsMedian": meta["latencyMs"],
        }
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("bench-results/builder_precision.json"))
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--samples", type=int, default=256)
    parser.add_argument("--measure-seconds", type=float, default=3.0)
    parser.add_argument("--backend", choices=("onnxruntime-cpu", "onnxruntime-cuda"),
                        default="onnxruntime-cpu")
    parser.add_argument("--model", choices=("reference", "mobilenet"), default="reference")
    parser.add_argument("--batch-max", type=int, default=128)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="builder-bench-") as work:
        results = run(args.size, args.samples, args.measure_seconds, Path(work),
                      backend=args.backend, model_name=args.model, batch_max=args.batch_max)
    doc = {"benchmark": "builder_precision", "model": f"{args.model} {args.size}x{args.size}x3",
           "backend": args.backend, "onnxruntime": onnxruntime.__version__,
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "validationSamples": args.samples, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    header = (f"{'precision':>9} {'build s':>8} {'att MAE':>9} {'emo agree':>9} {'eng MAE':>9}"
              f" {'bytes':>9}  crops/s by batch")
    print(header)
    for precision, r in results.items():
        rates = " ".join(f"b{b}={v:.0f}" for b, v in r["cropsPerSecond"].items())
        print(f"{precision:>9} {r['buildSecondsLessMeasureBudget']:>8.2f} "
              f"{r['attentionMae']:>9.5f} {r['emotionAgreement']:>9.4f} "
              f"{r['engagementMae']:>9.5f} {r['engineBytes']:>9}  {rates}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The full CPU build path at fp32, fp16 and int8 on the reference model: build time, accuracy
against the fp32 ONNX reference, and throughput at batch 1/32/128 (ONNX Runtime CPU).

Run on demand (figures printed, JSON written):

    .venv/bin/python tests/bench/builder_precision.py --out bench-results/builder_precision.json

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


def run(size: int, samples: int, measure_seconds: float, work: Path) -> dict[str, Any]:
    model_path = work / "reference.onnx"
    code, printed = _command(["reference-model", "--out", str(model_path), "--size", str(size)])
    assert code == 0, printed
    model = json.loads(printed)["model"]
    calibration = work / "calibration"
    write_images(synthetic_faces(samples, (size, size, 3), seed=1234), calibration)
    results: dict[str, Any] = {}
    for index, precision in enumerate(PRECISIONS):
        spec = {"model": model,
                "engine": {"precision": precision, "batch": {"min": 1, "opt": 32, "max": 128},
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
            "build", "--fingerprint", fingerprint, "--backend", "onnxruntime-cpu",
            "--gpu-class", "cpu", "--store", str(store), "--spec", str(spec_file),
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
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="builder-bench-") as work:
        results = run(args.size, args.samples, args.measure_seconds, Path(work))
    doc = {"benchmark": "builder_precision", "model": f"reference {args.size}x{args.size}x3",
           "backend": "onnxruntime-cpu", "onnxruntime": onnxruntime.__version__,
           "cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
           "validationSamples": args.samples, "results": results}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    header = (f"{'precision':>9} {'build s':>8} {'att MAE':>9} {'emo agree':>9} {'eng MAE':>9}"
              f" {'b1/s':>8} {'b32/s':>8} {'b128/s':>8} {'bytes':>9}")
    print(header)
    for precision, r in results.items():
        rate = r["cropsPerSecond"]
        print(f"{precision:>9} {r['buildSecondsLessMeasureBudget']:>8.2f} "
              f"{r['attentionMae']:>9.5f} {r['emotionAgreement']:>9.4f} "
              f"{r['engagementMae']:>9.5f} {rate['1']:>8.1f} {rate['32']:>8.1f} "
              f"{rate['128']:>8.1f} {r['engineBytes']:>9}")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How much the builder's throughput figure moves between builds of the same engine.

The figure sizes the serving pools (docs/contracts.md), so two builds of one engine should agree.
This builds the reference model's engine BUILDS times, each a real `classroom-inference build`
into a fresh store, and prints crops/s per batch size for each build, the spread across builds
((max - min) / median) and the spread of the measuring rounds inside each build.

    .venv/bin/python tests/bench/builder_throughput.py --out bench-results/builder_throughput.json
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import onnxruntime
from classroom_inference.builder.cli import register

ROOT = Path(__file__).resolve().parents[2]
BUILDS = 3
FINGERPRINT = "0123456789abcdef"


def _command(argv: list[str]) -> tuple[int, str]:
    top = argparse.ArgumentParser(prog="classroom-inference")
    register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code: int = args.run(args)
    return code, out.getvalue()


def run(out: Path, *, size: int = 96, builds: int = BUILDS, measure_seconds: float = 2.0,
        backend: str = "onnxruntime-cpu", batch: tuple[int, int, int] = (1, 32, 64)
        ) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="builder-throughput-") as scratch:
        work = Path(scratch)
        code, printed = _command(["reference-model", "--out", str(work / "model.onnx"),
                                  "--size", str(size)])
        assert code == 0, printed
        spec = {"model": json.loads(printed)["model"],
                "engine": {"precision": "fp32",
                           "batch": dict(zip(("min", "opt", "max"), batch, strict=True))},
                "validation": {"samples": 16}}
        (work / "spec.json").write_text(json.dumps(spec))
        rows = []
        for number in range(builds):
            store = work / f"store-{number}"
            store.mkdir()
            code, printed = _command([
                "build", "--fingerprint", FINGERPRINT, "--backend", backend, "--gpu-class",
                "cpu", "--store", str(store), "--spec", str(work / "spec.json"),
                "--measure-seconds", str(measure_seconds)])
            summary = json.loads(printed.strip().splitlines()[-1])
            assert code == 0, summary
            meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
            rows.append({"build": number + 1, "buildSeconds": meta["buildSeconds"],
                         "throughput": meta["throughput"],
                         "roundSpread": meta["throughputSpread"]})
            print(f"build {number + 1}: crops/s {meta['throughput']}  round spread "
                  f"{meta['throughputSpread']}  ({meta['buildSeconds']} s)", flush=True)
    across = {}
    for key in rows[0]["throughput"]:
        figures = [row["throughput"][key] for row in rows]
        across[key] = round((max(figures) - min(figures)) / statistics.median(figures), 3)
    print(f"spread across {builds} builds ((max - min) / median) by batch size: {across}")
    doc = {"machine": {"platform": platform.platform(), "cpus": os.cpu_count(),
                       "onnxruntime": onnxruntime.__version__},
           "model": {"size": size, "batch": list(batch)}, "backend": backend,
           "measureSeconds": measure_seconds, "builds": rows, "spreadAcrossBuilds": across}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path,
                        default=ROOT / "bench-results" / "builder_throughput.json")
    parser.add_argument("--size", type=int, default=96)
    parser.add_argument("--builds", type=int, default=BUILDS)
    parser.add_argument("--measure-seconds", type=float, default=2.0)
    parser.add_argument("--backend", default="onnxruntime-cpu")
    args = parser.parse_args()
    run(args.out, size=args.size, builds=args.builds, measure_seconds=args.measure_seconds,
        backend=args.backend)
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The serving pod's benchmark: efficiency against the raw engine, latency, streams sustained.

Everything runs through the real `Pod` (supervisors, synthetic sources, crops, batcher, runner,
analysis, outbox, metrics) in this process:

- efficiency: crops/s end to end when 30 fps streams offer 20% more than the engine takes,
  divided by the raw runner's crops/s at the same batch size (submit/collect on a filled batch
  buffer); raw and pod runs alternate for --rounds, and the medians make the ratio.
- sweep: N student streams at 30 fps; for each N the crops/s achieved against offered,
  crops dropped, and latency from a frame leaving the decoder to its label (p50/p99).
  A pod *sustains* N when it labels >= 98% of the offered crops with p99 <= 100 ms.
- latency at 50% and 90% of the measured capacity.

    .venv/bin/python tests/bench/serving_pipeline.py                      # CPU, reference 224
    .venv/bin/python tests/bench/serving_pipeline.py --size 64            # a 64x64 model
    .venv/bin/python tests/bench/serving_pipeline.py --backend onnxruntime-cuda --batch 256 \\
        --streams 250,500,1000,2000,3000                                  # on a GPU node
    .venv/bin/python tests/bench/serving_pipeline.py --backend copy-only --batch 256

Without --engine-dir the reference model is built at --size with the real build command.
Figures are printed; JSON and a plot go to bench-results/.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from classroom_inference.runners import open_runner
from classroom_inference.serving.batcher import Batch
from classroom_inference.serving.pipeline import Pod, PodSettings

ROOT = Path(__file__).resolve().parents[2]
FPS = 30
MAX_LATENCY_MS = 100.0
SUSTAINED_SHARE = 0.98


def build_reference(work: Path, size: int, batch: int) -> Path:
    """The reference model built for ONNX Runtime by `classroom-inference build`, fp32."""
    from classroom_inference.builder.cli import register

    def command(argv: list[str]) -> str:
        top = argparse.ArgumentParser(prog="classroom-inference")
        register(top.add_subparsers(dest="command", required=True))
        args = top.parse_args(argv)
        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
            code = args.run(args)
        if code != 0:
            raise RuntimeError(f"{argv[0]} failed: {out.getvalue()[-2000:]}")
        return out.getvalue()

    model = json.loads(command(["reference-model", "--out", str(work / "reference.onnx"),
                                "--size", str(size)]))["model"]
    spec = {"model": model, "engine": {"precision": "fp32",
                                       "batch": {"min": 1, "opt": batch, "max": batch}},
            "validation": {"samples": 32}, "gpu": {}}
    (work / "spec.json").write_text(json.dumps(spec))
    command(["build", "--fingerprint", "00000000000be7c4", "--backend", "onnxruntime-cpu",
             "--gpu-class", "cpu", "--store", str(work / "store"), "--spec",
             str(work / "spec.json"), "--measure-seconds", "0.2"])
    return work / "store" / "00000000000be7c4"


def raw_runner(engine_dir: Path, backend: str | None, batch: int, seconds: float) -> float:
    """Crops/s of the runner alone: one filled buffer submitted again and again, pipelined."""
    runner = open_runner(engine_dir, backend)
    runner.load()
    try:
        runner.warm_up(1)
        buffer = runner.batch_buffer()
        buffer[:] = np.random.default_rng(1).integers(0, 256, buffer.shape, dtype=np.uint8)
        rows = buffer[:batch]
        depth = max(1, runner.pipeline_depth)
        done = in_flight = 0
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            runner.submit(rows)
            in_flight += 1
            if in_flight >= depth:
                runner.collect()
                in_flight -= 1
                done += 1
        while in_flight:
            runner.collect()
            in_flight -= 1
            done += 1
        return done * batch / (time.perf_counter() - start)
    finally:
        runner.close()


def assignment(streams: int, frame: int, fingerprint: str) -> dict[str, Any]:
    return {
        "model": "bench/reference", "generation": 1, "fingerprint": fingerprint,
        "analysis": {"distractedAfterSeconds": 3, "attentionThreshold": 0.5,
                     "smoothingSeconds": 1, "summaryEverySeconds": 5},
        "pods": {"bench-0": [{"name": f"room-{i // 30}", "streams": [
            {"id": f"s{i}", "layout": "per-student",
             "url": f"synthetic://bench-{i}?fps={FPS}&width={frame}&height={frame}"
                    f"&pattern=220:{2 + i % 5},40:{1 + i % 3}"}
        ]} for i in range(streams)]},
    }


async def run_pod(engine_dir: Path, backend: str | None, work: Path, streams: int, frame: int,
                  *, warm: float, seconds: float) -> dict[str, Any]:
    """N synthetic student streams at 30 fps through a fresh pod."""
    path = work / f"assignment-{streams}.json"
    fingerprint = json.loads((engine_dir / "meta.json").read_text())["fingerprint"]
    path.write_text(json.dumps(assignment(streams, frame, fingerprint)))
    pod = Pod(PodSettings(engine_dir=engine_dir, assignment=path, pod_name="bench-0",
                          id_secret="bench-secret-0123456789", spool_dir=work / "spool",
                          backend=backend, drain_seconds=1.0))
    window: dict[str, Any] = {"open": False, "latency": [], "crops": 0}
    on_batch: Callable[[Batch], None] = pod._on_batch

    def timed(batch: Batch) -> None:  # the pod's own handler, with the latencies noted
        on_batch(batch)
        if window["open"]:
            window["latency"].append(time.monotonic() - batch.arrived)
            window["crops"] += len(batch.keys)

    pod._on_batch = timed
    await pod.start()
    try:
        await asyncio.sleep(warm)
        assert pod.batcher is not None
        dropped_before = sum(pod.batcher.stats.dropped.values())
        window["open"] = True
        started = time.monotonic()
        await asyncio.sleep(seconds)
        window["open"] = False
        elapsed = time.monotonic() - started
        dropped = sum(pod.batcher.stats.dropped.values()) - dropped_before
        batches, crops = pod.batcher.stats.batches, pod.batcher.stats.crops
    finally:
        await pod.drain()
    latency = np.concatenate(window["latency"]) * 1000 if window["latency"] else np.zeros(1)
    rate = window["crops"] / elapsed
    return {
        "streams": streams, "cropsPerSecond": round(rate, 1),
        "offeredPerSecond": streams * FPS,
        "droppedPerSecond": round(dropped / elapsed, 1),
        "meanBatch": round(crops / batches, 1) if batches else 0,
        "latencyMs": {"p50": round(float(np.percentile(latency, 50)), 1),
                      "p99": round(float(np.percentile(latency, 99)), 1)},
    }


def sustains(point: dict[str, Any]) -> bool:
    return bool(point["cropsPerSecond"] >= SUSTAINED_SHARE * point["offeredPerSecond"]
                and point["latencyMs"]["p99"] <= MAX_LATENCY_MS)


async def measure(engine_dir: Path, backend: str | None, work: Path, *, batch: int, frame: int,
                  seconds: float, streams: list[int], rounds: int, repeat: int) -> dict[str, Any]:
    # Raw engine and saturated pod alternate, so a neighbour's load on a shared machine weighs
    # on both sides alike; medians of the rounds make the ratio.
    raws, pods = [], []
    offered = 0
    for _ in range(rounds):
        raws.append(raw_runner(engine_dir, backend, batch, seconds))
        # 30 fps streams offering 20% more than the engine takes: the pod is saturated by real
        # paced streams, not by sources spinning as fast as the loop lets them.
        offered = offered or math.ceil(1.2 * raws[0] / FPS)
        pods.append(await run_pod(engine_dir, backend, work, offered, frame, warm=2.0,
                                  seconds=seconds))
        print(f"  raw {raws[-1]:.1f}/s, pod {pods[-1]['cropsPerSecond']:.1f}/s "
              f"({offered} streams)", file=sys.stderr)
    raw = float(np.median(raws))
    saturated = sorted(pods, key=lambda p: p["cropsPerSecond"])[len(pods) // 2]
    capacity = saturated["cropsPerSecond"]
    sweep = []
    for n in streams:
        runs = sorted([await run_pod(engine_dir, backend, work, n, frame, warm=2.0,
                                     seconds=seconds) for _ in range(repeat)],
                      key=lambda p: p["latencyMs"]["p99"])
        # The median run is what this machine gives with its neighbours' load; the best run is
        # what the pod does in a quiet moment of a shared machine.
        point = dict(runs[len(runs) // 2])
        point |= {"sustained": sustains(point), "best": runs[0],
                  "sustainedInBest": sustains(runs[0]),
                  "p99RunsMs": [r["latencyMs"]["p99"] for r in runs]}
        sweep.append(point)
        verdict = "sustained" if point["sustained"] else (
            "sustained in the best run" if point["sustainedInBest"] else "NOT sustained")
        print(f"  {n:>5} streams: {point['cropsPerSecond']:>9.1f}/s of {n * FPS:>7}/s "
              f"p50 {point['latencyMs']['p50']:>6.1f} ms p99 {point['latencyMs']['p99']:>6.1f} ms"
              f" (runs {point['p99RunsMs']}) mean batch {point['meanBatch']:>5.1f} {verdict}",
              file=sys.stderr)
    at_load = {}
    for share in (0.5, 0.9):
        n = max(1, int(share * capacity / FPS))
        at_load[f"{int(share * 100)}%"] = await run_pod(
            engine_dir, backend, work, n, frame, warm=2.0, seconds=seconds)
    sustained = [p["streams"] for p in sweep if p["sustained"]]
    sustained_best = [p["streams"] for p in sweep if p["sustainedInBest"]]
    return {
        "rawRunner": {"batch": batch, "cropsPerSecond": round(raw, 1),
                      "rounds": [round(r, 1) for r in raws]},
        "saturated": saturated,
        "saturatedRounds": [p["cropsPerSecond"] for p in pods],
        "efficiency": round(capacity / raw, 3),
        "capacityStreamsAt30fps": int(capacity // FPS),
        "sweep": sweep,
        "latencyAtLoad": at_load,
        "mostStreamsSustained": max(sustained, default=0),
        "mostStreamsSustainedInBestRun": max(sustained_best, default=0),
    }


def plot(result: dict[str, Any], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sweep = result["sweep"]
    n = [p["streams"] for p in sweep]
    fig, throughput = plt.subplots(figsize=(7, 4))
    throughput.plot(n, [p["cropsPerSecond"] for p in sweep], "o-", label="labelled crops/s")
    throughput.plot(n, [p["offeredPerSecond"] for p in sweep], "k:", label="offered (30 fps)")
    throughput.set_xlabel("student streams at 30 fps")
    throughput.set_ylabel("crops/s")
    latency = throughput.twinx()
    latency.plot(n, [p["latencyMs"]["p99"] for p in sweep], "s-", color="tab:red",
                 label="p99 (median run)")
    latency.plot(n, [p["best"]["latencyMs"]["p99"] for p in sweep], "^--", color="tab:orange",
                 label="p99 (best run)")
    latency.axhline(MAX_LATENCY_MS, color="tab:red", linestyle="--", linewidth=0.8)
    latency.set_ylabel("p99 frame-to-label latency (ms)", color="tab:red")
    lines = throughput.get_legend_handles_labels()
    more = latency.get_legend_handles_labels()
    throughput.legend(lines[0] + more[0], lines[1] + more[1], loc="upper left")
    throughput.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["onnxruntime-cpu", "onnxruntime-cuda",
                                              "tensorrt", "copy-only"])
    parser.add_argument("--engine-dir", type=Path, help="an engine folder; default: build the "
                        "reference model")
    parser.add_argument("--size", type=int, default=224, help="reference model input size")
    parser.add_argument("--frame", type=int, help="synthetic frame size (default: the input "
                        "size, so a crop is the frame)")
    parser.add_argument("--batch", type=int, default=32, help="engine batch (profile max)")
    parser.add_argument("--seconds", type=float, default=5.0, help="measuring time per point")
    parser.add_argument("--streams", default="2,4,6,8,12,16,24,32,40,48",
                        help="stream counts to sweep")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs per sweep point; the median and the best are kept")
    parser.add_argument("--rounds", type=int, default=3,
                        help="raw engine / saturated pod rounds for the efficiency figure")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-results" / "serving.json")
    args = parser.parse_args(argv)
    backend = args.backend
    with tempfile.TemporaryDirectory(prefix="serving-bench-") as tmp:
        work = Path(tmp)
        engine_dir = args.engine_dir or build_reference(work, args.size, args.batch)
        meta = json.loads((engine_dir / "meta.json").read_text())
        size = meta["input"]["height"]
        result = asyncio.run(measure(
            engine_dir, backend, work, batch=min(args.batch, meta["batch"]["max"]),
            frame=args.frame or size, seconds=args.seconds,
            streams=[int(x) for x in args.streams.split(",")], rounds=args.rounds,
            repeat=args.repeat))
    doc = {
        "benchmark": "serving_pipeline",
        "backend": backend or meta["backend"],
        "engine": {"input": meta["input"], "batch": meta["batch"],
                   "model": "reference" if args.engine_dir is None else str(args.engine_dir)},
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                    "loadAverage": [round(x, 2) for x in os.getloadavg()]},
        "fps": FPS, "maxLatencyMs": MAX_LATENCY_MS, **result,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    picture = args.out.with_suffix(".png")
    plot(result, picture, f"{doc['backend']}, {size}x{size} input, batch {args.batch}")
    raw, sat = result["rawRunner"], result["saturated"]
    print(f"raw runner at batch {raw['batch']}: {raw['cropsPerSecond']:.1f} crops/s; pipeline "
          f"{sat['cropsPerSecond']:.1f} crops/s; efficiency {result['efficiency']:.3f}")
    for share, p in result["latencyAtLoad"].items():
        print(f"at {share} of capacity ({p['streams']} streams): p50 {p['latencyMs']['p50']} ms,"
              f" p99 {p['latencyMs']['p99']} ms")
    print(f"most streams sustained at {FPS} fps: {result['mostStreamsSustained']} "
          f"(median run), {result['mostStreamsSustainedInBestRun']} (best run)")
    print(f"wrote {args.out} and {picture}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

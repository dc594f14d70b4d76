"""Throughput and latency of a built engine at the batch sizes of its profile.

Measured the way the pod feeds the engine, through the runner it uses on the target backend:
crops sit in the runner's own batch buffers (pinned on GPUs) and batches are pipelined with
submit/collect, so the next upload overlaps the current compute. Throughput is that steady
state; latency is the median of one batch submitted and collected on an idle pipeline. Random
uint8 crops: the engine's speed does not depend on what they show.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np

from classroom_inference.builder.spec import BatchSpec
from classroom_inference.runners import Runner

STANDARD_SIZES = (1, 32, 128, 256)


@dataclass(frozen=True)
class Performance:
    throughput: dict[str, float]  # crops/s by batch size (keys are strings, as in meta.json)
    latency_ms: dict[str, float]  # median per batch


def batch_sizes(batch: BatchSpec) -> list[int]:
    """min, opt and max of the profile, plus the standard sizes that fall inside it."""
    inside = {b for b in STANDARD_SIZES if batch.min <= b <= batch.max}
    return sorted({batch.min, batch.opt, batch.max} | inside)


def measure(runner: Runner, sizes: list[int], *, seconds_per_size: float = 1.0,
            min_runs: int = 3, warm_up: int = 2) -> Performance:
    rng = np.random.default_rng(0)
    depth = runner.pipeline_depth
    buffers = [runner.batch_buffer() for _ in range(depth)]
    for buffer in buffers:
        buffer[...] = rng.integers(0, 256, size=buffer.shape, dtype=np.uint8)
    throughput: dict[str, float] = {}
    latency: dict[str, float] = {}
    for size in sizes:
        batches = [buffer[:size] for buffer in buffers]
        for _ in range(warm_up):
            runner.submit(batches[0])
            runner.collect()
        times: list[float] = []
        deadline = time.perf_counter() + seconds_per_size / 2
        while len(times) < min_runs or time.perf_counter() < deadline:
            start = time.perf_counter()
            runner.submit(batches[0])
            runner.collect()
            times.append(time.perf_counter() - start)
        latency[str(size)] = round(statistics.median(times) * 1000.0, 3)
        throughput[str(size)] = round(_pipelined_rate(runner, batches, seconds_per_size / 2,
                                                      min_runs), 1)
    return Performance(throughput, latency)


def _pipelined_rate(runner: Runner, batches: list[np.ndarray], seconds: float,
                    min_runs: int) -> float:
    """Crops/s with `pipeline_depth` batches in flight, as the pod's batcher keeps them."""
    in_flight = done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while done < min_runs or time.perf_counter() < deadline:
        runner.submit(batches[(done + in_flight) % len(batches)])
        in_flight += 1
        if in_flight == len(batches):
            runner.collect()
            in_flight -= 1
            done += 1
    for _ in range(in_flight):
        runner.collect()
        done += 1
    return done * len(batches[0]) / (time.perf_counter() - start)

"""Throughput and latency of a built engine at the batch sizes of its profile.

Measured through the runner the pod uses, on the target backend, with random uint8 crops: the
engine's speed does not depend on what the crops show. Each size runs for a time budget (at least
`min_runs` batches) after a warm-up; the median batch latency gives crops/s.
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
    throughput: dict[str, float] = {}
    latency: dict[str, float] = {}
    for size in sizes:
        batch = rng.integers(0, 256, size=(size, *runner.input_shape), dtype=np.uint8)
        for _ in range(warm_up):
            runner.infer(batch)
        times: list[float] = []
        deadline = time.perf_counter() + seconds_per_size
        while len(times) < min_runs or time.perf_counter() < deadline:
            start = time.perf_counter()
            runner.infer(batch)
            times.append(time.perf_counter() - start)
        median = statistics.median(times)
        throughput[str(size)] = round(size / median, 1)
        latency[str(size)] = round(median * 1000.0, 3)
    return Performance(throughput, latency)

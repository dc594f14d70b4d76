"""Throughput and latency of a built engine at the batch sizes of its profile.

Measured the way the pod feeds the engine, through the runner it uses on the target backend:
crops sit in the runner's own batch buffers (pinned on GPUs) and batches are pipelined with
submit/collect, so the next upload overlaps the current compute. Random uint8 crops: the
engine's speed does not depend on what they show.

The throughput figure sizes the serving pools (docs/contracts.md, "Builder summary"), so it
must come out the same on every build of the same engine. Per batch size:

  1. warm-up: WARM_UP_BATCHES pipelined batches, not counted (thread pools spin up, memory
     arenas grow to the new shape, GPU clocks rise); the second half of them, once warm,
     estimates the time of one batch.
  2. ROUNDS rounds of the same fixed number of pipelined batches each, so every round does the
     same work; the count is what fills 1/(ROUNDS + 1) of `seconds_per_size`, at least
     MIN_BATCHES_PER_ROUND and at most MAX_BATCHES_PER_ROUND.
  3. throughput: the median of the rounds' crops/s; spread: (max - min) / median of the rounds.
  4. latency: the median of the same number of single batches submitted and collected on an
     idle pipeline.

Time bound: about seconds_per_size per batch size plus the warm-up, unless one batch takes
longer than seconds_per_size / ((ROUNDS + 1) * MIN_BATCHES_PER_ROUND); then
(ROUNDS + 1) * MIN_BATCHES_PER_ROUND + WARM_UP_BATCHES batches per size.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from classroom_inference.builder.spec import BatchSpec
from classroom_inference.runners import Runner

STANDARD_SIZES = (1, 32, 128, 256)
WARM_UP_BATCHES = 6
ROUNDS = 5
MIN_BATCHES_PER_ROUND = 3
MAX_BATCHES_PER_ROUND = 2000


@dataclass(frozen=True)
class Performance:
    throughput: dict[str, float]  # crops/s by batch size (keys are strings, as in meta.json)
    latency_ms: dict[str, float]  # median per batch
    spread: dict[str, float]  # (max - min) / median of the rounds' crops/s, by batch size


def batch_sizes(batch: BatchSpec) -> list[int]:
    """min, opt and max of the profile, plus the standard sizes that fall inside it."""
    inside = {b for b in STANDARD_SIZES if batch.min <= b <= batch.max}
    return sorted({batch.min, batch.opt, batch.max} | inside)


def measure(runner: Runner, sizes: list[int], *, seconds_per_size: float = 1.0,
            rounds: int = ROUNDS, warm_up: int = WARM_UP_BATCHES,
            clock: Callable[[], float] = time.perf_counter) -> Performance:
    rng = np.random.default_rng(0)
    depth = runner.pipeline_depth
    buffers = [runner.batch_buffer() for _ in range(depth)]
    for buffer in buffers:
        buffer[...] = rng.integers(0, 256, size=buffer.shape, dtype=np.uint8)
    throughput: dict[str, float] = {}
    latency: dict[str, float] = {}
    spread: dict[str, float] = {}
    for size in sizes:
        batches = [buffer[:size] for buffer in buffers]
        _pipelined(runner, batches, warm_up // 2)
        start = clock()
        _pipelined(runner, batches, warm_up - warm_up // 2)
        per_batch = max((clock() - start) / max(warm_up - warm_up // 2, 1), 1e-9)
        count = round_batches(seconds_per_size / (rounds + 1), per_batch)
        rates = []
        for _ in range(rounds):
            start = clock()
            _pipelined(runner, batches, count)
            rates.append(count * size / max(clock() - start, 1e-9))
        median = statistics.median(rates)
        throughput[str(size)] = round(median, 1)
        spread[str(size)] = round((max(rates) - min(rates)) / median, 3)
        times = []
        for _ in range(count):
            start = clock()
            runner.submit(batches[0])
            runner.collect()
            times.append(clock() - start)
        latency[str(size)] = round(statistics.median(times) * 1000.0, 3)
    return Performance(throughput, latency, spread)


def round_batches(seconds: float, per_batch: float) -> int:
    """Batches in one round: as many as fill `seconds` at the warm-up's pace, within bounds."""
    return max(MIN_BATCHES_PER_ROUND, min(MAX_BATCHES_PER_ROUND, math.floor(seconds / per_batch)))


def _pipelined(runner: Runner, batches: list[np.ndarray], count: int) -> None:
    """`count` batches with up to `pipeline_depth` in flight, as the pod's batcher keeps them."""
    in_flight = 0
    for number in range(count):
        runner.submit(batches[number % len(batches)])
        in_flight += 1
        if in_flight == len(batches):
            runner.collect()
            in_flight -= 1
    for _ in range(in_flight):
        runner.collect()

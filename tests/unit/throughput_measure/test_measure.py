"""The throughput figure: warm-up excluded, fixed rounds, their median, and their spread.

The runner here is scripted and the clock is its own, so each batch takes exactly the time the
test says and nothing depends on this machine's speed.
"""

from __future__ import annotations

import numpy as np
import pytest
from classroom_inference.builder.measure import (
    MAX_BATCHES_PER_ROUND,
    MIN_BATCHES_PER_ROUND,
    measure,
    round_batches,
)

COLD_COST = 2.0  # seconds the first warm-up batches take: a cold engine is slow
WARM_UP_COST = 0.25  # seconds the later warm-up batches take, which estimate a batch
ROUND_COSTS = (0.1, 0.2, 0.1, 0.1, 0.05)  # seconds a batch takes in each round
LATENCY_COST = 0.004


class ScriptedRunner:
    """A runner whose every collected batch advances the clock by the next scripted cost."""

    pipeline_depth = 2

    def __init__(self, costs: list[float]) -> None:
        self.costs = costs
        self.now = 0.0
        self.submitted: list[int] = []
        self.pending = 0

    def clock(self) -> float:
        return self.now

    def batch_buffer(self) -> np.ndarray:
        return np.zeros((16, 4, 4, 3), np.uint8)

    def submit(self, batch: np.ndarray) -> None:
        self.submitted.append(len(batch))
        self.pending += 1

    def collect(self) -> dict[str, np.ndarray]:
        assert self.pending > 0, "collect without a batch in flight"
        self.pending -= 1
        self.now += self.costs.pop(0)
        return {}


def _script(per_round: int, warm_up: int = 4) -> list[float]:
    costs = [COLD_COST] * (warm_up // 2) + [WARM_UP_COST] * (warm_up - warm_up // 2)
    for cost in ROUND_COSTS:
        costs += [cost] * per_round
    return costs + [LATENCY_COST] * per_round


def test_median_of_the_rounds_without_the_warm_up() -> None:
    # 6.3 s per size: a round is 1.05 s, which holds 4 batches at the warm engine's 0.25 s each
    # (at the cold 2 s, it would be MIN_BATCHES_PER_ROUND).
    runner = ScriptedRunner(_script(per_round=4) + _script(per_round=4))
    performance = measure(runner, [8, 16], seconds_per_size=6.3, rounds=5, warm_up=4,
                          clock=runner.clock)  # type: ignore[arg-type]

    # Rounds run at 80, 40, 80, 80 and 160 crops/s for batch 8: the median is 80. With the
    # slow warm-up counted it would be lower; with the mean, 88.
    assert performance.throughput == {"8": 80.0, "16": 160.0}
    assert performance.spread == {"8": pytest.approx((160 - 40) / 80),
                                  "16": pytest.approx((320 - 80) / 160)}
    assert performance.latency_ms == {"8": 4.0, "16": 4.0}
    # Every round did the same fixed work: 4 warm-up + 5 x 4 timed + 4 latency batches a size.
    assert runner.submitted == [8] * 28 + [16] * 28
    assert runner.costs == [] and runner.pending == 0


def test_steady_rounds_have_no_spread() -> None:
    runner = ScriptedRunner([0.1] * (4 + 5 * 5 + 5))
    performance = measure(runner, [10], seconds_per_size=3.3, rounds=5, warm_up=4,
                          clock=runner.clock)  # type: ignore[arg-type]
    assert performance.throughput == {"10": 100.0} and performance.spread == {"10": 0.0}


@pytest.mark.parametrize(("seconds", "per_batch", "batches"), [
    (1.0, 0.25, 4),
    (1.0, 10.0, MIN_BATCHES_PER_ROUND),  # a slow engine still gets a median of real batches
    (1.0, 1e-7, MAX_BATCHES_PER_ROUND),  # a tiny one does not spin for ever
])
def test_batches_per_round_fill_the_round_within_bounds(seconds: float, per_batch: float,
                                                        batches: int) -> None:
    assert round_batches(seconds, per_batch) == batches

"""Reconnect delays: exponential, capped, and jittered downwards so cameras do not retry in step."""

from __future__ import annotations

import random

import pytest
from classroom_inference.serving.streams import Backoff, FrameRate
from streams.collect import Collecting


def test_schedule_doubles_up_to_the_cap() -> None:
    backoff = Backoff(initial_s=0.5, max_s=30.0, multiplier=2.0, jitter=0.0)
    rng = random.Random(1)
    assert [backoff.delay(n, rng) for n in range(9)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]


def test_a_very_long_outage_stays_at_the_cap() -> None:
    assert Backoff(jitter=0.0).delay(10_000, random.Random(1)) == 30.0


def test_jitter_only_shortens_and_spreads_the_delays() -> None:
    backoff = Backoff(initial_s=1.0, max_s=8.0, jitter=0.3)
    ceilings = [1, 2, 4, 8, 8, 8]
    rng = random.Random(5)
    for attempt, ceiling in enumerate(ceilings):
        for _ in range(50):
            assert 0.7 * ceiling <= backoff.delay(attempt, rng) <= ceiling
    # Two cameras failing together pick different delays.
    assert backoff.delay(5, random.Random(1)) != backoff.delay(5, random.Random(2))


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"initial_s": 0}, "Backoff.initial_s is 0"),
        ({"initial_s": 60, "max_s": 30}, "initial_s <= max_s"),
        ({"multiplier": 0.5}, "Backoff.multiplier is 0.5"),
        ({"jitter": 1.0}, "Backoff.jitter is 1.0"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        Backoff(**kwargs)


def test_frame_rate_over_the_last_seconds_from_the_count_alone() -> None:
    rate = FrameRate(window_s=2.0, stale_after_s=2.0)
    counts = Collecting()
    assert rate.per_second(0.0, counts, 0) == 0.0

    def arrive(until: float, fps: float) -> None:
        at = counts.last_arrival if counts.last_arrival is not None else 100.0 - 1 / fps
        while at + 1 / fps <= until + 1e-9:
            at += 1 / fps
            counts.frames += 1
            counts.last_arrival = at
            if counts.first_arrival is None:
                counts.first_arrival = at

    arrive(101.2, 25)
    assert rate.per_second(101.2, counts, 0) == pytest.approx(25.0)
    readings = []
    for step in range(1, 9):  # 10 fps from now on, read twice a second
        arrive(101.2 + step / 2, 10)
        readings.append(rate.per_second(101.2 + step / 2, counts, 0))
    assert readings[0] > 12 and readings[-1] == pytest.approx(10.0, rel=0.05)
    assert rate.per_second(108.0, counts, 0) == 0.0  # no frame for over 2 s: stopped

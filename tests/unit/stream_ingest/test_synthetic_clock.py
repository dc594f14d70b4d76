"""One clock paces all synthetic streams of a rate from a few threads, spread over phases."""

from __future__ import annotations

import asyncio
import threading

from classroom_inference.serving.sources import SyntheticSource, open_source
from classroom_inference.serving.sources.clock import PHASES, SyntheticClock, Ticking
from streams.collect import Collecting

from .conftest import read_all


def _synthetic(name: str, fps: float) -> SyntheticSource:
    source = open_source(name, f"synthetic://{name}?fps={fps:g}&width=8&height=8")
    assert isinstance(source, SyntheticSource)
    return source


def test_streams_of_one_rate_share_one_clock() -> None:
    assert SyntheticClock.shared(30.0) is SyntheticClock.shared(30.0)
    assert SyntheticClock.shared(30.0) is not SyntheticClock.shared(25.0)


async def test_every_phase_ticks_in_turn_once_a_period() -> None:
    clock = SyntheticClock(fps=40.0, workers=1)
    intakes = [Collecting() for _ in range(PHASES)]
    streams = [Ticking(_synthetic(f"s{p}", 40.0), intake, p, lambda: None)
               for p, intake in enumerate(intakes)]
    for ticking in streams:
        clock.add(ticking)
    try:
        for intake in intakes:
            await intake.until(3)
    finally:
        for ticking in streams:
            clock.remove(ticking)
    order = sorted((f.arrived, p, f.index) for p, i in enumerate(intakes) for f in i.received[:2])
    firsts = [p for _, p, index in order if index == 0]
    start = firsts[0]
    assert firsts == [(start + k) % PHASES for k in range(PHASES)]
    for intake in intakes:  # frame indices count periods, one frame each
        assert [f.index for f in intake.received[:3]] == [0, 1, 2]
        # Never faster than the rate (a period is 25 ms): a late first frame (a busy machine)
        # shortens the span by less than a period.
        assert intake.received[2].arrived - intake.received[0].arrived > 0.025


async def test_the_clock_threads_stop_when_no_stream_is_left() -> None:
    clock = SyntheticClock(fps=200.0, workers=2)
    intake = Collecting()
    ticking = Ticking(_synthetic("s", 200.0), intake, 3, lambda: None)
    clock.add(ticking)
    await intake.until(2)
    assert clock.threads == 2
    clock.remove(ticking)
    taken = len(intake.received)
    async with asyncio.timeout(5):
        while clock.threads:  # noqa: ASYNC110 - they end by themselves, no cancel
            await asyncio.sleep(0.01)
    assert len(intake.received) == taken  # nothing after remove() returned
    clock.add(ticking)  # and starts again on demand
    await intake.until(taken + 2)
    clock.remove(ticking)


async def test_frames_are_made_by_the_clock_threads_not_the_event_loop() -> None:
    names: set[str] = set()

    class Noting(Collecting):
        def frame(self, frame: object) -> None:
            names.add(threading.current_thread().name)
            super().frame(frame)  # type: ignore[arg-type]

    intake = Noting()
    clock = SyntheticClock(fps=100.0, workers=1)
    ticking = Ticking(_synthetic("s", 100.0), intake, 0, lambda: None)
    clock.add(ticking)
    await intake.until(3)
    clock.remove(ticking)
    assert names == {"synthetic-clock-100-0"}


async def test_a_limited_paced_stream_ends_after_its_frames() -> None:
    frames = await read_all(open_source("s", "synthetic://s?fps=100&frames=10&width=8&height=8"))
    assert [f.index for f in frames] == list(range(10))

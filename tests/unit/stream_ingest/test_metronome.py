"""One shared timer paces all synthetic streams of a rate, spread over phases of the period."""

from __future__ import annotations

import asyncio
import itertools

from classroom_inference.serving.sources import open_source
from classroom_inference.serving.sources.metronome import PHASES, Metronome

from .conftest import read_all


async def test_streams_of_one_rate_share_one_metronome() -> None:
    assert Metronome.shared(30.0) is Metronome.shared(30.0)
    assert Metronome.shared(30.0) is not Metronome.shared(25.0)


async def test_phases_tick_in_turn_once_a_period() -> None:
    metronome = Metronome(fps=50.0)
    order: list[tuple[int, int]] = []

    async def listen(phase: int) -> None:
        for _ in range(2):
            tick = await metronome.tick(phase)
            order.append((tick, phase))

    await asyncio.gather(*(listen(p) for p in range(PHASES)))
    first, second = order[:PHASES], order[PHASES:]
    start = first[0][1]
    rotation = [(start + i) % PHASES for i in range(PHASES)]
    assert [phase for _, phase in first] == rotation == [phase for _, phase in second]
    assert all(b == a + 1 for (a, _), (b, _) in zip(first, second, strict=True))


async def test_the_timer_stops_when_nobody_listens() -> None:
    metronome = Metronome(fps=200.0)
    await metronome.tick(3)
    assert metronome._task is not None
    await asyncio.wait_for(metronome._task, timeout=5)  # ends by itself, no cancel
    await metronome.tick(3)  # and starts again on demand


async def test_a_slow_reader_skips_frames_instead_of_bursting() -> None:
    source = open_source("s", "synthetic://s?fps=100&width=8&height=8")
    indices = []
    async for frame in source.frames():
        indices.append(frame.index)
        if len(indices) == 5:
            break
        await asyncio.sleep(0.045)  # reads about one frame in five
    await source.close()
    steps = [b - a for a, b in itertools.pairwise(indices)]
    assert all(step >= 3 for step in steps), indices


async def test_a_limited_paced_stream_ends_after_its_frames() -> None:
    frames = await read_all(open_source("s", "synthetic://s?fps=100&frames=10&width=8&height=8"))
    assert 1 <= len(frames) <= 10
    assert frames[-1].index <= 9

"""synthetic:// frames: the size and rate asked for, brightness following its pattern, cheap."""

from __future__ import annotations

import asyncio

from classroom_inference.serving.sources import BrightnessPattern, SyntheticSource, open_source
from streams.collect import Collecting

from .conftest import read_all


async def test_size_count_and_order() -> None:
    url = "synthetic://bench-7?width=96&height=64&frames=40&realtime=0&brightness=90"
    frames = await read_all(open_source("bench-7", url))
    assert len(frames) == 40
    assert [f.index for f in frames] == list(range(40))
    assert frames[0].image.shape == (64, 96, 3)
    assert {int(f.image.mean()) for f in frames} == {90}


async def test_brightness_follows_the_pattern_by_frame_time() -> None:
    # 10 fps: 1 s bright (10 frames), 2 s dark (20 frames), repeating.
    url = "synthetic://s?fps=10&pattern=220:1,40:2&frames=65&realtime=0&width=16&height=16"
    levels = [int(f.image[0, 0, 0]) for f in await read_all(open_source("s", url))]
    assert levels[:10] == [220] * 10
    assert levels[10:30] == [40] * 20
    assert levels[30:40] == [220] * 10
    assert levels[40:60] == [40] * 20
    assert levels[60:65] == [220] * 5


async def test_frames_are_rendered_once_and_read_only() -> None:
    url = "synthetic://s?pattern=200:0.1,50:0.1&fps=20&frames=8&realtime=0&width=32&height=32"
    frames = await read_all(open_source("s", url))
    distinct = {id(f.image) for f in frames}
    assert len(distinct) == 2
    assert not frames[0].image.flags.writeable


async def test_paced_at_the_asked_rate() -> None:
    frames = await read_all(open_source("s", "synthetic://s?fps=50&frames=11&width=8&height=8"))
    # 11 frames at 50 fps span 10 periods: 0.2 s, less only by how late the first one came on a
    # busy machine (under a period), never a burst.
    assert frames[-1].arrived - frames[0].arrived > 0.18


async def test_close_ends_the_stream() -> None:
    source = open_source("s", "synthetic://s?realtime=0&width=8&height=8")
    assert isinstance(source, SyntheticSource)
    intake = Collecting()
    reading = asyncio.create_task(source.run(intake))
    await intake.until(5)
    await source.close()
    await asyncio.wait_for(reading, 10)
    taken = len(intake.received)
    await asyncio.sleep(0.05)
    assert len(intake.received) == taken >= 5


async def test_a_closed_intake_stops_an_unpaced_stream() -> None:
    frames = await read_all(open_source("s", "synthetic://s?realtime=0&width=8&height=8"),
                            limit=7)
    assert [f.index for f in frames] == list(range(7))


def test_pattern_levels_wrap_around_its_period() -> None:
    pattern = BrightnessPattern(((200, 10.0), (40, 35.0)))
    assert pattern.period == 45.0
    assert [pattern.level_at(t) for t in (0, 9.99, 10, 44.9, 45, 55.5)] == [
        200, 200, 40, 40, 200, 40,
    ]

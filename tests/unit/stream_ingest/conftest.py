"""Videos made at test time (FFmpeg and PyAV) and a helper that reads a source to its end."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from classroom_inference.serving.frames import Frame, Source
from streams import videos
from streams.collect import Collecting


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def pattern_mp4(media: Path) -> Path:
    """2 s of 320x240 at 25 fps: 50 frames."""
    return videos.pattern_video(media / "pattern.mp4", seconds=2, fps=25, width=320, height=240)


@pytest.fixture(scope="module")
def brightness_mp4(media: Path) -> Path:
    return videos.brightness_video(media / "levels.mp4", [30] * 5 + [220] * 5, fps=25)


@pytest.fixture(scope="module")
def audio_m4a(media: Path) -> Path:
    return videos.audio_only(media / "tone.m4a", seconds=1)


async def read_all(source: Source, limit: int = 10_000) -> list[Frame]:
    """Every frame the source gives until it ends (or `limit` frames); raises what it failed
    with."""
    intake = Collecting(limit)
    reading = asyncio.create_task(source.run(intake))
    try:
        while not reading.done() and not intake.closed:  # noqa: ASYNC110 - a thread fills it
            await asyncio.sleep(0.005)
        if reading.done():
            reading.result()
    finally:
        await source.close()
        reading.cancel()
        await asyncio.gather(reading, return_exceptions=True)
    return intake.received

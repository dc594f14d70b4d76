"""Videos made at test time (FFmpeg and PyAV) and a helper that reads a source to its end."""

from __future__ import annotations

from pathlib import Path

import pytest
from classroom_inference.serving.frames import Frame, Source
from streams import videos


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
    frames: list[Frame] = []
    try:
        async for frame in source.frames():
            frames.append(frame)
            if len(frames) >= limit:
                break
    finally:
        await source.close()
    return frames

"""file:// streams through FFmpeg: every frame in order, looped or ended, paced in real time."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from classroom_inference.serving.sources import (
    DecodedSource,
    InvalidStreamData,
    SourceOptions,
    StreamUnavailable,
    UnsupportedCodec,
    open_source,
)
from streams.collect import Collecting

from .conftest import read_all

FAST = SourceOptions(realtime=False)


async def test_decodes_every_frame_in_order(pattern_mp4: Path) -> None:
    frames = await read_all(open_source("room-101-0", f"file://{pattern_mp4}", FAST))
    assert len(frames) == 50
    assert [f.index for f in frames] == list(range(50))
    assert {f.stream_id for f in frames} == {"room-101-0"}
    first = frames[0].image
    assert first.shape == (240, 320, 3) and first.dtype.name == "uint8"
    arrivals = [f.arrived for f in frames]
    assert arrivals == sorted(arrivals)
    # testsrc moves: consecutive frames differ.
    assert not (frames[0].image == frames[1].image).all()


async def test_pixels_come_through_as_rgb_at_their_brightness(brightness_mp4: Path) -> None:
    frames = await read_all(open_source("s", f"file://{brightness_mp4}", FAST))
    means = [float(f.image.mean()) for f in frames]
    assert len(means) == 10
    assert all(abs(m - 30) < 4 for m in means[:5]), means
    assert all(abs(m - 220) < 4 for m in means[5:]), means


async def test_loop_starts_again_and_keeps_counting(pattern_mp4: Path) -> None:
    frames = await read_all(open_source("s", f"file://{pattern_mp4}?loop=1", FAST), limit=130)
    assert len(frames) == 130
    assert [f.index for f in frames] == list(range(130))
    # Frame 50 is the first frame of the second pass.
    assert (frames[50].image == frames[0].image).all()
    assert (frames[100].image == frames[0].image).all()


async def test_realtime_paces_at_the_file_rate(pattern_mp4: Path) -> None:
    frames = await read_all(open_source("s", f"file://{pattern_mp4}"), limit=13)
    # 13 frames at 25 fps span 12 periods: 0.48 s. Pacing can only make it later, never sooner.
    assert frames[-1].arrived - frames[0].arrived >= 0.45


async def test_close_stops_the_decoding_thread(pattern_mp4: Path) -> None:
    source = open_source("s", f"file://{pattern_mp4}?loop=1")
    assert isinstance(source, DecodedSource)
    intake = Collecting()
    reading = asyncio.create_task(source.run(intake))
    await intake.until(1)
    await source.close()
    await asyncio.wait_for(reading, 10)  # the decoding thread ended, so did the reading
    assert source._thread is not None and not source._thread.is_alive()
    taken = len(intake.received)
    await asyncio.sleep(0.1)
    assert len(intake.received) == taken  # nothing more reaches the intake


async def test_frames_reach_the_intake_in_the_decoding_thread(pattern_mp4: Path) -> None:
    """The decoder hands frames over itself: the event loop is never on the frames' path."""
    threads: set[str] = set()

    class Noting(Collecting):
        def frame(self, frame: Any) -> None:
            threads.add(threading.current_thread().name)
            super().frame(frame)

    intake = Noting(limit=5)
    source = open_source("room-7", f"file://{pattern_mp4}", FAST)
    await source.run(intake)
    await source.close()
    assert threads == {"decode-room-7"}


async def test_a_source_is_read_once(pattern_mp4: Path) -> None:
    source = open_source("s", f"file://{pattern_mp4}", FAST)
    await read_all(source, limit=1)
    with pytest.raises(RuntimeError, match="open a new one"):
        await read_all(source)


async def test_missing_file_says_not_found(media: Path) -> None:
    with pytest.raises(StreamUnavailable, match=r"missing\.mp4: not found .*check the path"):
        await read_all(open_source("s", f"file://{media}/missing.mp4"))


async def test_a_file_that_is_not_video_says_so(media: Path) -> None:
    notes = media / "notes.mp4"
    notes.write_text("attendance: 24 students\n" * 50)
    with pytest.raises(InvalidStreamData, match=r"notes\.mp4: not a video file FFmpeg can read"):
        await read_all(open_source("s", f"file://{notes}"))


async def test_sound_without_picture_is_an_unsupported_stream(audio_m4a: Path) -> None:
    with pytest.raises(UnsupportedCodec, match=r"no video stream \(it carries audio aac\)"):
        await read_all(open_source("s", f"file://{audio_m4a}"))


async def test_the_event_loop_keeps_running_while_a_stream_decodes(pattern_mp4: Path) -> None:
    """Decoding happens in a thread: a ticker on the loop keeps ticking throughout."""
    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.monotonic())
            await asyncio.sleep(0.01)

    task = asyncio.create_task(ticker())
    frames = await read_all(open_source("s", f"file://{pattern_mp4}?loop=1", FAST), limit=150)
    task.cancel()
    assert len(frames) == 150
    assert len(ticks) >= 3

"""The per-stream supervisor: state, counters, newest-frame delivery, reconnects, stop and drain."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from classroom_inference.serving.frames import Frame, Source, StreamState
from classroom_inference.serving.sources import SourceOptions, StreamEnded
from classroom_inference.serving.streams import Backoff, StreamSupervisor

QUICK = Backoff(initial_s=0.02, max_s=0.1, jitter=0.0)


async def until(check: Callable[[], bool], what: str, give_up_s: float = 30.0) -> None:
    """Poll the supervisor's public state; giving up only stops a broken test from hanging."""
    async with asyncio.timeout(give_up_s):
        while not check():  # noqa: ASYNC110 - the state has no event to wait on, by design
            await asyncio.sleep(0.01)
    assert check(), what


async def test_a_stream_is_healthy_counted_and_stops_at_its_end() -> None:
    supervisor = StreamSupervisor("s", "synthetic://s?realtime=0&frames=50&width=8&height=8")
    supervisor.start()
    received = [f.index async for f in supervisor.frames()]
    stats = supervisor.stats()
    assert stats.state is StreamState.STOPPED
    assert stats.frames_decoded == 50
    assert len(received) + stats.frames_dropped == 50
    assert received == sorted(received) and received[-1] == 49
    assert (stats.error, stats.reconnects) == (None, 0)


async def test_healthy_with_a_frame_rate_while_flowing() -> None:
    supervisor = StreamSupervisor("s", "synthetic://s?fps=100&width=8&height=8")
    supervisor.start()
    try:
        frames = supervisor.frames()
        for _ in range(40):
            await anext(frames)
        stats = supervisor.stats()
        assert stats.state is StreamState.HEALTHY
        assert stats.fps > 0
    finally:
        await supervisor.stop()


async def test_a_lagging_consumer_gets_the_newest_frame_and_drops_are_counted() -> None:
    supervisor = StreamSupervisor("s", "synthetic://s?realtime=0&frames=100&width=8&height=8")
    supervisor.start()
    await until(lambda: supervisor.state is StreamState.STOPPED, "the stream ended")
    newest = await supervisor.next_frame()
    assert newest is not None and newest.index == 99
    assert await supervisor.next_frame() is None
    assert supervisor.stats().frames_dropped == 99


async def test_a_malformed_url_fails_once_and_is_not_retried() -> None:
    supervisor = StreamSupervisor("room-1-0", "rtsp://admin:pw@cam:99999/x", backoff=QUICK)
    supervisor.start()
    assert await supervisor.next_frame() is None
    stats = supervisor.stats()
    assert stats.state is StreamState.FAILED
    assert stats.reason == "InvalidUrl"
    assert stats.error is not None and "rtsp://admin:***@cam:99999/x" in stats.error
    assert "pw" not in stats.error and stats.url == "rtsp://admin:***@cam:99999/x"
    assert stats.reconnects == 0


async def test_a_missing_file_is_retried_until_it_appears(
    tmp_path: Path, pattern_mp4: Path
) -> None:
    late = tmp_path / "late.mp4"
    supervisor = StreamSupervisor(
        "s", f"file://{late}", options=SourceOptions(realtime=False), backoff=QUICK
    )
    supervisor.start()
    try:
        await until(lambda: supervisor.stats().reconnects >= 2, "retrying")
        failing = supervisor.stats()
        assert failing.state in (StreamState.FAILED, StreamState.CONNECTING)
        assert failing.reason == "Unavailable" or failing.state is StreamState.CONNECTING
        assert failing.last_error is not None and "late.mp4: not found" in failing.last_error
        shutil.copyfile(pattern_mp4, tmp_path / "partial")
        (tmp_path / "partial").rename(late)  # whole, as a recording is moved into place
        frame = await supervisor.next_frame()
        assert frame is not None
        recovered = supervisor.stats()
        assert recovered.state in (StreamState.HEALTHY, StreamState.STOPPED)
        assert recovered.error is None
        assert recovered.last_error is not None and "not found" in recovered.last_error
    finally:
        await supervisor.stop()


async def test_stop_drains_the_waiting_frame_then_ends() -> None:
    supervisor = StreamSupervisor("s", "synthetic://s?fps=100&width=8&height=8")
    supervisor.start()
    await until(lambda: supervisor.stats().frames_decoded >= 3, "frames decoded")
    await supervisor.stop()
    assert supervisor.state is StreamState.STOPPED
    assert await supervisor.next_frame() is not None
    assert await supervisor.next_frame() is None


class OneFrameThenGone:
    """A camera that sends one frame and disconnects (or raises something unexpected)."""

    def __init__(self, stream_id: str, error: Exception) -> None:
        self.stream_id = stream_id
        self.error = error

    async def frames(self) -> AsyncIterator[Frame]:
        import numpy as np

        yield Frame(self.stream_id, np.zeros((4, 4, 3), np.uint8), 0.0, 0)
        raise self.error

    async def close(self) -> None:
        return None


async def test_a_stream_that_was_healthy_starts_its_backoff_over() -> None:
    def connect(stream_id: str, url: str, options: SourceOptions | None) -> Source:
        return OneFrameThenGone(stream_id, StreamEnded(f"{url}: the stream ended"))

    # Without the reset the delays would be 0.01, 1, 60 s: five reconnects would take minutes.
    backoff = Backoff(initial_s=0.01, max_s=60, multiplier=100, jitter=0.0, reset_after_s=0.0)
    supervisor = StreamSupervisor("s", "rtsp://cam/x", backoff=backoff, connect=connect)
    supervisor.start()
    try:
        await until(lambda: supervisor.stats().reconnects >= 5, "quick reconnects", give_up_s=20)
        assert supervisor.stats().reason in ("Ended", None)
    finally:
        await supervisor.stop()


async def test_a_source_that_cannot_even_be_made_is_a_stream_error() -> None:
    def connect(stream_id: str, url: str, options: SourceOptions | None) -> Source:
        raise RuntimeError("no decoder threads left")

    supervisor = StreamSupervisor("s", "rtsp://cam/x", backoff=QUICK, connect=connect)
    supervisor.start()
    try:
        await until(lambda: supervisor.stats().reconnects >= 1, "a retry")
        stats = supervisor.stats()
        assert stats.last_error is not None and "no decoder threads left" in stats.last_error
    finally:
        await supervisor.stop()


async def test_an_unexpected_error_becomes_the_streams_error_not_the_pods() -> None:
    def connect(stream_id: str, url: str, options: SourceOptions | None) -> Source:
        return OneFrameThenGone(stream_id, ZeroDivisionError("bug"))

    supervisor = StreamSupervisor("s", "rtsp://cam/x", backoff=Backoff(initial_s=5, max_s=5),
                                  connect=connect)
    supervisor.start()
    try:
        await until(lambda: supervisor.state is StreamState.FAILED, "failed")
        stats = supervisor.stats()
        assert stats.reason == "StreamError"
        assert stats.error is not None and "unexpected ZeroDivisionError('bug')" in stats.error
    finally:
        await supervisor.stop()

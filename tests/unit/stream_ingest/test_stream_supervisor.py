"""The per-stream supervisor: state, counters, reconnects, stop; frames go to the intake, not
through it."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
from classroom_inference.serving.frames import Frame, Intake, Source, StreamState
from classroom_inference.serving.sources import SourceOptions, StreamEnded
from classroom_inference.serving.streams import Backoff, StreamSupervisor
from streams.collect import Collecting

QUICK = Backoff(initial_s=0.02, max_s=0.1, jitter=0.0)


async def until(check: Callable[[], bool], what: str, give_up_s: float = 30.0) -> None:
    """Poll the supervisor's public state; giving up only stops a broken test from hanging."""
    async with asyncio.timeout(give_up_s):
        while not check():  # noqa: ASYNC110 - the state has no event to wait on, by design
            await asyncio.sleep(0.01)
    assert check(), what


async def test_a_stream_is_healthy_counted_and_stops_at_its_end() -> None:
    intake = Collecting()
    supervisor = StreamSupervisor("s", "synthetic://s?realtime=0&frames=50&width=8&height=8",
                                  intake)
    supervisor.start()
    await supervisor.finished()
    stats = supervisor.stats()
    assert stats.state is StreamState.STOPPED
    assert stats.frames_decoded == 50 == len(intake.received)
    assert [f.index for f in intake.received] == list(range(50))
    assert (stats.error, stats.reconnects, stats.frames_dropped) == (None, 0, 0)


async def test_healthy_with_a_frame_rate_while_flowing() -> None:
    intake = Collecting()
    supervisor = StreamSupervisor("s", "synthetic://s?fps=100&width=8&height=8", intake)
    assert supervisor.state is StreamState.CONNECTING
    supervisor.start()
    try:
        await intake.until(40)
        stats = supervisor.stats()
        assert stats.state is StreamState.HEALTHY
        assert 50 < stats.fps < 150
    finally:
        await supervisor.stop()


async def test_frames_the_intake_refused_are_counted_as_dropped() -> None:
    class Refusing(Collecting):
        def frame(self, frame: Frame) -> None:
            super().frame(frame)
            self.dropped += frame.index % 2  # every other crop refused: an engine behind

    supervisor = StreamSupervisor("s", "synthetic://s?realtime=0&frames=20&width=8&height=8",
                                  Refusing())
    supervisor.start()
    await supervisor.finished()
    stats = supervisor.stats()
    assert (stats.frames_decoded, stats.frames_dropped) == (20, 10)


async def test_a_malformed_url_fails_once_and_is_not_retried() -> None:
    supervisor = StreamSupervisor("room-1-0", "rtsp://admin:pw@cam:99999/x", Collecting(),
                                  backoff=QUICK)
    supervisor.start()
    await asyncio.wait_for(supervisor.finished(), 10)
    stats = supervisor.stats()
    assert stats.state is StreamState.FAILED
    assert stats.reason == "InvalidUrl"
    assert stats.error is not None and "rtsp://admin:***@cam:99999/x" in stats.error
    assert "pw" not in stats.error
    assert stats.reconnects == 0


async def test_a_missing_file_is_retried_until_it_appears(
    tmp_path: Path, pattern_mp4: Path
) -> None:
    late = tmp_path / "late.mp4"
    intake = Collecting()
    supervisor = StreamSupervisor(
        "s", f"file://{late}", intake, options=SourceOptions(realtime=False), backoff=QUICK
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
        await intake.until(1)
        recovered = supervisor.stats()
        assert recovered.state in (StreamState.HEALTHY, StreamState.STOPPED)
        assert recovered.error is None
        assert recovered.last_error is not None and "not found" in recovered.last_error
    finally:
        await supervisor.stop()


async def test_stop_ends_intake_at_once() -> None:
    intake = Collecting()
    supervisor = StreamSupervisor("s", "synthetic://s?fps=100&width=8&height=8", intake)
    supervisor.start()
    await intake.until(3)
    await supervisor.stop()
    assert supervisor.state is StreamState.STOPPED
    taken = len(intake.received)
    await asyncio.sleep(0.1)
    assert len(intake.received) == taken


class OneFrameThenGone:
    """A camera that sends one frame and disconnects (or raises something unexpected)."""

    def __init__(self, stream_id: str, error: Exception) -> None:
        self.stream_id = stream_id
        self.error = error

    async def run(self, intake: Intake) -> None:
        intake.frame(Frame(self.stream_id, np.zeros((4, 4, 3), np.uint8), 0.0, 0))
        raise self.error

    async def close(self) -> None:
        return None


async def test_a_stream_that_was_healthy_starts_its_backoff_over() -> None:
    def connect(stream_id: str, url: str, options: SourceOptions | None) -> Source:
        return OneFrameThenGone(stream_id, StreamEnded(f"{url}: the stream ended"))

    # Without the reset the delays would be 0.01, 1, 60 s: five reconnects would take minutes.
    backoff = Backoff(initial_s=0.01, max_s=60, multiplier=100, jitter=0.0, reset_after_s=0.0)
    supervisor = StreamSupervisor("s", "rtsp://cam/x", Collecting(), backoff=backoff,
                                  connect=connect)
    supervisor.start()
    try:
        await until(lambda: supervisor.stats().reconnects >= 5, "quick reconnects", give_up_s=20)
        assert supervisor.stats().reason in ("Ended", None)
    finally:
        await supervisor.stop()


async def test_a_source_that_cannot_even_be_made_is_a_stream_error() -> None:
    def connect(stream_id: str, url: str, options: SourceOptions | None) -> Source:
        raise RuntimeError("no decoder threads left")

    supervisor = StreamSupervisor("s", "rtsp://cam/x", Collecting(), backoff=QUICK,
                                  connect=connect)
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

    supervisor = StreamSupervisor("s", "rtsp://cam/x", Collecting(),
                                  backoff=Backoff(initial_s=5, max_s=5), connect=connect)
    supervisor.start()
    try:
        await until(lambda: supervisor.state is StreamState.FAILED, "failed")
        stats = supervisor.stats()
        assert stats.reason == "StreamError"
        assert stats.error is not None and "unexpected ZeroDivisionError('bug')" in stats.error
        assert stats.frames_decoded == 1
    finally:
        await supervisor.stop()


async def test_each_failure_is_reported_to_the_pod() -> None:
    failed: list[str] = []
    supervisor = StreamSupervisor("room-9-0", "rtsp://127.0.0.1:1/none", Collecting(),
                                  backoff=QUICK, on_failure=failed.append)
    supervisor.start()
    try:
        await until(lambda: supervisor.stats().reconnects >= 2, "retries")
    finally:
        await supervisor.stop()
    assert len(failed) >= 2 and set(failed) == {"room-9-0"}

"""One supervisor per stream: keeps its source flowing and says how it is doing.

The supervisor reads its source in a task of its own, reconnects with exponential backoff and
jitter (so a school's cameras do not all knock at once when a switch comes back), and keeps only the
newest frame for its consumer: when the consumer lags, the older frame is dropped and counted, so a
slow stage costs frames, never memory or the other streams' time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from .frames import Frame, Source, StreamState
from .sources import SourceOptions, StreamError, mask_password, open_source

log = logging.getLogger(__name__)

Connect = Callable[[str, str, SourceOptions | None], Source]


@dataclass(frozen=True)
class Backoff:
    """Delays between attempts: initial_s x multiplier^attempt, capped at max_s, minus up to
    `jitter` of itself at random. A stream healthy for reset_after_s starts over from initial_s."""

    initial_s: float = 0.5
    max_s: float = 30.0
    multiplier: float = 2.0
    jitter: float = 0.3
    reset_after_s: float = 10.0

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.max_s:
            raise ValueError(
                f"Backoff.initial_s is {self.initial_s!r}; give 0 < initial_s <= max_s "
                f"({self.max_s!r})"
            )
        if self.multiplier < 1:
            raise ValueError(f"Backoff.multiplier is {self.multiplier!r}; give 1 or more")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"Backoff.jitter is {self.jitter!r}; give a fraction in [0, 1)")

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before reconnect number `attempt` (0 for the first)."""
        ceiling = min(self.max_s, self.initial_s * self.multiplier ** min(attempt, 64))
        return ceiling * (1 - self.jitter * rng.random())


class FrameRate:
    """Frames per second over the last few frames; zero once frames stop coming."""

    def __init__(self, window: int = 30, stale_after_s: float = 2.0) -> None:
        self._times: deque[float] = deque(maxlen=window)
        self._stale_after_s = stale_after_s

    def tick(self, at: float) -> None:
        self._times.append(at)

    def per_second(self, now: float) -> float:
        if len(self._times) < 2 or now - self._times[-1] > self._stale_after_s:
            return 0.0
        span = self._times[-1] - self._times[0]
        return (len(self._times) - 1) / span if span > 0 else 0.0


@dataclass(frozen=True)
class StreamStats:
    stream_id: str
    url: str  # password masked
    state: StreamState
    error: str | None  # why the stream is not healthy now; None while healthy
    reason: str | None  # the error's code (StreamError.reason)
    last_error: str | None  # kept after recovery, for operators reading /v1/status
    fps: float
    frames_decoded: int
    frames_dropped: int
    reconnects: int


class StreamSupervisor:
    def __init__(
        self,
        stream_id: str,
        url: str,
        *,
        options: SourceOptions | None = None,
        backoff: Backoff | None = None,
        connect: Connect = open_source,
        rng: random.Random | None = None,
    ) -> None:
        self.stream_id = stream_id
        self.url = url
        self.options = options
        self.backoff = backoff or Backoff()
        self._connect = connect
        self._rng = rng or random.Random()
        self._state = StreamState.CONNECTING
        self._error: StreamError | None = None
        self._last_error: StreamError | None = None
        self._rate = FrameRate()
        self._decoded = 0
        self._dropped = 0
        self._reconnects = 0
        self._latest: Frame | None = None
        self._available = asyncio.Event()
        self._finished = False
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    # Lifecycle.

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"stream {self.stream_id} is already started")
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.stream_id}")

    async def stop(self) -> None:
        """Stop reading. The consumer still gets the frame already waiting, then the end."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._state = StreamState.STOPPED
        self._finish()

    # The consumer's side.

    async def next_frame(self) -> Frame | None:
        """The newest frame not yet taken; None once the stream has ended or was stopped."""
        while self._latest is None:
            if self._finished:
                return None
            self._available.clear()
            await self._available.wait()
        frame, self._latest = self._latest, None
        return frame

    async def frames(self) -> AsyncIterator[Frame]:
        while (frame := await self.next_frame()) is not None:
            yield frame

    def stats(self) -> StreamStats:
        error = self._error
        return StreamStats(
            stream_id=self.stream_id,
            url=mask_password(self.url),
            state=self._state,
            error=str(error) if error else None,
            reason=error.reason if error else None,
            last_error=str(self._last_error) if self._last_error else None,
            fps=round(self._rate.per_second(time.monotonic()), 2),
            frames_decoded=self._decoded,
            frames_dropped=self._dropped,
            reconnects=self._reconnects,
        )

    @property
    def state(self) -> StreamState:
        return self._state

    # The reading task.

    async def _run(self) -> None:
        attempt = 0
        try:
            while True:
                self._state = StreamState.CONNECTING
                ended, healthy_since = await self._read_once()
                if ended:
                    return  # a file that ended: nothing to reconnect to
                if self._error is not None and self._error.permanent:
                    return
                if healthy_since is not None and (
                    time.monotonic() - healthy_since >= self.backoff.reset_after_s
                ):
                    attempt = 0
                await asyncio.sleep(self.backoff.delay(attempt, self._rng))
                attempt += 1
                self._reconnects += 1
        finally:
            self._finish()

    async def _read_once(self) -> tuple[bool, float | None]:
        """One attempt: (whether the stream ended cleanly, when it became healthy or None).
        A failed attempt leaves its error set."""
        healthy_since: float | None = None
        try:
            source = self._connect(self.stream_id, self.url, self.options)
        except StreamError as error:
            self._fail(error)
            return False, None
        except Exception as error:
            self._fail_unexpectedly(error)
            return False, None
        try:
            async for frame in source.frames():
                if healthy_since is None:
                    healthy_since = time.monotonic()
                    self._recover()
                self._deliver(frame)
            self._state = StreamState.STOPPED
            self._error = None
            return True, healthy_since
        except StreamError as error:
            self._fail(error)
        except Exception as error:
            self._fail_unexpectedly(error)
        finally:
            await source.close()
        return False, healthy_since

    def _deliver(self, frame: Frame) -> None:
        if self._latest is not None:
            self._dropped += 1
        self._latest = frame
        self._decoded += 1
        self._rate.tick(frame.arrived)
        self._available.set()

    def _recover(self) -> None:
        if self._error is not None:
            log.info("stream %s is healthy again after: %s", self.stream_id, self._error)
        self._state = StreamState.HEALTHY
        self._error = None

    def _fail(self, error: StreamError) -> None:
        if str(error) != str(self._error):
            log.warning("stream %s failed (%s): %s", self.stream_id, error.reason, error)
        self._state = StreamState.FAILED
        self._error = self._last_error = error

    def _fail_unexpectedly(self, error: Exception) -> None:
        # A bug must not take the pod down with it; it shows as this stream's error.
        log.exception("stream %s: unexpected failure", self.stream_id)
        self._fail(StreamError(f"{mask_password(self.url)}: unexpected {error!r}"))

    def _finish(self) -> None:
        self._finished = True
        self._available.set()

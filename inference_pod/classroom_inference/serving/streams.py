"""One supervisor per stream: keeps its source flowing and says how it is doing.

The supervisor runs its source in a task of its own and reconnects with exponential backoff and
jitter (so a school's cameras do not all knock at once when a switch comes back). It is not on the
frames' path: the source hands every frame to the stream's intake in the thread that made it,
and the supervisor reads the intake's counters when asked how the stream is doing. So the event
loop does work per stream when its state changes, never per frame.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from .frames import Intake, Source, StreamState
from .sources import (
    SourceOptions,
    StreamError,
    mask_password,
    open_source,
    without_password,
    without_url,
)

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


class CountedIntake(Intake, Protocol):
    """An intake that counts what it took: the supervisor's view of the stream's frames."""

    frames: int
    dropped: int
    first_arrival: float | None  # first frame since begin()
    last_arrival: float | None

    def begin(self) -> None: ...


class FrameRate:
    """Frames per second over the last couple of seconds, from the frame count as it is read
    (nothing is recorded per frame); zero once frames stop coming."""

    def __init__(self, window_s: float = 2.0, stale_after_s: float = 2.0) -> None:
        self._samples: deque[tuple[float, int]] = deque()  # (arrival of the latest, frames)
        self._window_s = window_s
        self._stale_after_s = stale_after_s

    def restart(self) -> None:
        self._samples.clear()

    def per_second(self, now: float, intake: CountedIntake, since: int) -> float:
        """`since`: the frame count when the current connection began."""
        last, first = intake.last_arrival, intake.first_arrival
        if last is None or first is None or now - last > self._stale_after_s:
            return 0.0
        samples = self._samples
        if not samples:
            samples.append((first, since + 1))
        samples.append((last, intake.frames))
        while len(samples) > 2 and samples[1][0] <= last - self._window_s:
            samples.popleft()
        start, frames = samples[0]
        return max(0.0, (intake.frames - frames) / (last - start)) if last > start else 0.0


@dataclass(frozen=True)
class StreamStats:
    stream_id: str
    state: StreamState
    # Errors name the URL with its password masked, for whoever holds the supervisor; what
    # leaves the pod (status, logs) names the stream by its id instead (sources.without_url).
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
        intake: CountedIntake,
        *,
        options: SourceOptions | None = None,
        backoff: Backoff | None = None,
        connect: Connect = open_source,
        rng: random.Random | None = None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """`on_failure(stream_id)` is called each time the stream fails (on the event loop)."""
        self.stream_id = stream_id
        self._on_failure = on_failure
        self.url = url
        self.intake = intake
        self.options = options
        self.backoff = backoff or Backoff()
        self._connect = connect
        self._rng = rng or random.Random()
        self._state = StreamState.CONNECTING
        self._error: StreamError | None = None
        self._last_error: StreamError | None = None
        self._rate = FrameRate()
        self._attempt_frames: int | None = None  # the frame count when this connection began
        self._reconnects = 0
        self._task: asyncio.Task[None] | None = None

    # Lifecycle.

    def start(self) -> None:
        if self._task is not None:
            raise RuntimeError(f"stream {self.stream_id} is already started")
        self._task = asyncio.create_task(self._run(), name=f"stream-{self.stream_id}")

    async def stop(self) -> None:
        """Stop reading; once this returns the source hands the intake nothing more."""
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._state = StreamState.STOPPED

    async def finished(self) -> None:
        """Returns when the supervisor gives up: the stream ended, or its URL can never work."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def stats(self) -> StreamStats:
        state = self.state
        error = self._error
        since = self._attempt_frames if self._attempt_frames is not None else self.intake.frames
        return StreamStats(
            stream_id=self.stream_id,
            state=state,
            error=str(error) if error else None,
            reason=error.reason if error else None,
            last_error=str(self._last_error) if self._last_error else None,
            fps=round(self._rate.per_second(time.monotonic(), self.intake, since), 2),
            frames_decoded=self.intake.frames,
            frames_dropped=self.intake.dropped,
            reconnects=self._reconnects,
        )

    @property
    def state(self) -> StreamState:
        self._notice_frames()
        return self._state

    # The reading task.

    async def _run(self) -> None:
        attempt = 0
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

    async def _read_once(self) -> tuple[bool, float | None]:
        """One attempt: (whether the stream ended cleanly, when its first frame came or None).
        A failed attempt leaves its error set."""
        try:
            source = self._connect(self.stream_id, self.url, self.options)
        except StreamError as error:
            self._fail(error)
            return False, None
        except Exception as error:
            self._fail_unexpectedly(error)
            return False, None
        self.intake.begin()
        self._attempt_frames = self.intake.frames
        self._rate.restart()
        try:
            await source.run(self.intake)
            self._notice_frames()
            self._state = StreamState.STOPPED
            self._error = None
            return True, self.intake.first_arrival
        except StreamError as error:
            self._notice_frames()
            self._fail(error)
        except Exception as error:
            self._notice_frames()
            self._fail_unexpectedly(error)
        finally:
            await source.close()
            self._attempt_frames = None
        return False, self.intake.first_arrival

    def _notice_frames(self) -> None:
        """A connection that has given frames is healthy; seen when the state is read."""
        if (self._state is StreamState.CONNECTING and self._attempt_frames is not None
                and self.intake.frames > self._attempt_frames):
            self._recover()

    def _recover(self) -> None:
        if self._error is not None:
            log.info("stream %s is healthy again after: %s", self.stream_id,
                     without_url(str(self._error), self.url, self.stream_id))
        self._state = StreamState.HEALTHY
        self._error = None

    def _fail(self, error: StreamError) -> None:
        # A password can come back in what FFmpeg or a parser says about the URL.
        error = type(error)(without_password(str(error), self.url))
        if str(error) != str(self._error):
            log.warning("stream %s failed (%s): %s", self.stream_id, error.reason,
                        without_url(str(error), self.url, self.stream_id))
        self._state = StreamState.FAILED
        self._error = self._last_error = error
        if self._on_failure is not None:
            self._on_failure(self.stream_id)

    def _fail_unexpectedly(self, error: Exception) -> None:
        # A bug must not take the pod down with it; it shows as this stream's error.
        trace = "".join(traceback.format_exception(error))
        log.error("stream %s: unexpected failure\n%s", self.stream_id,
                  without_url(trace, self.url, self.stream_id))
        self._fail(StreamError(f"{mask_password(self.url)}: unexpected {error!r}"))

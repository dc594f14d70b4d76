"""A synthetic stream for benchmarks and tests: generated frames at a given rate and size.

Cheap by design: one frame is rendered per brightness level and size, and the same read-only
array is handed out again and again (to every stream showing it); all streams of a frame rate
share one clock (clock.py), which queues the crops of per-student streams in bulk. Frames the
clock was too late to make are skipped, as a camera's are: frame indices count frame periods, so
a gap in them is a frame the pod never saw. Unpaced (`realtime=0`) streams make their frames one
after another in a thread of their own, as fast as the intake takes them.

Every pixel of a frame has the pattern's brightness at that moment, so the face crop has it too,
and an engine whose attention follows brightness is steered by it: the test engine (mean of the
crop) and the builder's reference model (mean of the crop's centre) read a bright face as
attentive and a dark one as distracted.

    synthetic://s1?fps=30&width=224&height=224&brightness=200
    synthetic://s1?pattern=220:10,40:35      # 10 s bright, then 35 s dark, repeating
    synthetic://s1?frames=300&realtime=0     # 300 frames as fast as they are taken, then end
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import threading
import time
import zlib
from dataclasses import dataclass

import numpy as np

from ..frames import Frame, Intake
from .clock import SyntheticClock, Ticking
from .errors import InvalidStreamUrl
from .options import SourceOptions
from .urls import StreamUrl


@dataclass(frozen=True)
class BrightnessPattern:
    """(level 0-255, seconds) steps, repeated."""

    steps: tuple[tuple[int, float], ...]

    @classmethod
    def parse(cls, text: str, shown: str) -> BrightnessPattern:
        steps: list[tuple[int, float]] = []
        for part in text.split(","):
            level, _, seconds = part.partition(":")
            try:
                step = (int(level), float(seconds))
            except ValueError:
                step = (-1, -1.0)
            if not (0 <= step[0] <= 255 and step[1] > 0):
                raise InvalidStreamUrl(
                    f"{shown}: pattern step {part!r} is not level:seconds with a level 0-255 "
                    f"and positive seconds; e.g. pattern=220:10,40:35"
                )
            steps.append(step)
        return cls(tuple(steps))

    @property
    def period(self) -> float:
        return sum(seconds for _, seconds in self.steps)

    def level_at(self, seconds: float) -> int:
        at = seconds % self.period
        for level, length in self.steps:
            if at < length:
                return level
            at -= length
        return self.steps[-1][0]


class SyntheticSource:
    def __init__(self, stream_id: str, url: StreamUrl, options: SourceOptions) -> None:
        self.stream_id = stream_id
        shown = url.shown
        self.fps = url.number("fps", 30.0, minimum=0.1, maximum=1000.0)
        self.width = int(url.number("width", 224, minimum=8, maximum=7680))
        self.height = int(url.number("height", 224, minimum=8, maximum=4320))
        limit = url.number("frames", 0, minimum=0, maximum=1e12)
        self.limit = int(limit) if limit else None
        realtime = options.realtime if options.realtime is not None else url.flag("realtime")
        self.realtime = True if realtime is None else realtime
        if "pattern" in url.query and "brightness" in url.query:
            raise InvalidStreamUrl(f"{shown}: give either brightness or pattern, not both")
        if "pattern" in url.query:
            self.pattern = BrightnessPattern.parse(url.query["pattern"], shown)
        else:
            level = int(url.number("brightness", 128, minimum=0, maximum=255))
            self.pattern = BrightnessPattern(((level, 1.0),))
        self._images = {level: _frame(level, self.height, self.width)
                        for level, _ in self.pattern.steps}
        self._closed = False
        self._ended: asyncio.Future[None] | None = None
        self._thread: threading.Thread | None = None  # an unpaced stream's

    @property
    def steps(self) -> tuple[tuple[int, float], ...]:
        return self.pattern.steps

    def level(self, index: int) -> int:
        return self.pattern.level_at(index / self.fps)

    def image(self, level: int) -> np.ndarray:
        return self._images[level]

    async def run(self, intake: Intake) -> None:
        loop = asyncio.get_running_loop()
        self._ended = loop.create_future()
        if self._closed:
            return
        if not self.realtime:
            self._thread = threading.Thread(target=self._unpaced, args=(intake, loop),
                                            daemon=True, name=f"synthetic-{self.stream_id}")
            self._thread.start()
            await self._ended
            return
        clock = SyntheticClock.shared(self.fps)

        def ended() -> None:  # in a clock thread, after the last of `frames`
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
                loop.call_soon_threadsafe(self._end)

        ticking = Ticking(self, intake, zlib.crc32(self.stream_id.encode()), ended)
        clock.add(ticking)
        try:
            await self._ended
        finally:
            clock.remove(ticking)

    def _unpaced(self, intake: Intake, loop: asyncio.AbstractEventLoop) -> None:
        index = 0
        while not (self._closed or intake.closed) and (self.limit is None or index < self.limit):
            intake.frame(Frame(self.stream_id, self.image(self.level(index)), time.monotonic(),
                               index))
            index += 1
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
            loop.call_soon_threadsafe(self._end)

    def _end(self) -> None:
        if self._ended is not None and not self._ended.done():
            self._ended.set_result(None)

    async def close(self) -> None:
        """Once this returns, the intake gets no more frames."""
        self._closed = True
        self._end()
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join)


@functools.lru_cache(maxsize=1024)
def _frame(level: int, height: int, width: int) -> np.ndarray:
    """A uniform frame, read-only and shared by every stream showing it: thousands of streams
    of a benchmark hold a few frames between them, not two each."""
    image = np.full((height, width, 3), level, dtype=np.uint8)
    image.flags.writeable = False
    return image

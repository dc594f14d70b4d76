"""A synthetic stream for benchmarks and tests: generated frames at a given rate and size.

Cheap by design: one frame is rendered per brightness level at start and the same read-only array
is handed out again and again, and all streams of a frame rate share one timer (metronome.py).
A stream that is not read in time skips the frames it missed, as a camera does: frame indices
count frame periods, so a gap in them is a frame the pod never saw.

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
import time
import zlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np

from ..frames import Frame
from .errors import InvalidStreamUrl
from .metronome import Metronome
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
        self._images = {level: self._render(level) for level, _ in self.pattern.steps}
        self._closed = False

    def _render(self, level: int) -> np.ndarray:
        image = np.full((self.height, self.width, 3), level, dtype=np.uint8)
        image.flags.writeable = False
        return image

    async def frames(self) -> AsyncIterator[Frame]:
        metronome = Metronome.shared(self.fps) if self.realtime else None
        phase = zlib.crc32(self.stream_id.encode())
        first: int | None = None
        index = 0
        while not self._closed and (self.limit is None or index < self.limit):
            if metronome is None:
                await asyncio.sleep(0)  # others run between frames even when unpaced
            else:
                tick = await metronome.tick(phase)
                first = tick if first is None else first
                index = tick - first
                if self.limit is not None and index >= self.limit:
                    return
            level = self.pattern.level_at(index / self.fps)
            yield Frame(self.stream_id, self._images[level], time.monotonic(), index)
            index += 1

    async def close(self) -> None:
        self._closed = True

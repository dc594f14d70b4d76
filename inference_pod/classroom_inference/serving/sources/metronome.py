"""One timer paces every synthetic stream of a frame rate, instead of one timer per stream.

A benchmark runs thousands of synthetic streams; a sleep per stream per frame costs the event loop
more than everything else ingest does. Streams are spread over evenly spaced phases of the frame
period, so their frames arrive spread out as real cameras' do, not all in one burst.
"""

from __future__ import annotations

import asyncio
import time
import weakref

PHASES = 16
# A tick later than this (a loop that was busy) restarts the schedule from now, without a burst.
MAX_LAG_S = 1.0

_by_loop: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, dict[float, Metronome]] = (
    weakref.WeakKeyDictionary()
)


class Metronome:
    """Periods are counted from the metronome's creation, whether anyone listens or not, so a
    stream that was not waiting for a while sees by the count how many frames it missed."""

    def __init__(self, fps: float) -> None:
        self.period = 1.0 / fps
        self._step_s = self.period / PHASES
        self._epoch = time.monotonic()
        self._events = [asyncio.Event() for _ in range(PHASES)]
        self._periods = [0] * PHASES
        self._waiting = [0] * PHASES
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def shared(cls, fps: float) -> Metronome:
        """The metronome of this event loop for this frame rate."""
        per_loop = _by_loop.setdefault(asyncio.get_running_loop(), {})
        if fps not in per_loop:
            per_loop[fps] = cls(fps)
        return per_loop[fps]

    async def tick(self, phase: int) -> int:
        """Wait for the phase's next tick; returns the number of the period it falls in."""
        phase %= PHASES
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name=f"metronome-{1 / self.period:g}")
        self._waiting[phase] += 1
        try:
            await self._events[phase].wait()
        finally:
            self._waiting[phase] -= 1
        return self._periods[phase]

    def _step_now(self) -> int:
        return int((time.monotonic() - self._epoch) / self._step_s)

    async def _run(self) -> None:
        step = self._step_now()
        while any(self._waiting):  # nobody listening: stop; the next tick() starts it again
            step += 1
            delay = self._epoch + step * self._step_s - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            elif -delay > MAX_LAG_S:
                step = self._step_now()
            # A little late (a busy loop): the steps due meanwhile fire one after another, so every
            # phase still ticks once a period.
            phase = step % PHASES
            event, self._events[phase] = self._events[phase], asyncio.Event()
            self._periods[phase] = step // PHASES
            event.set()

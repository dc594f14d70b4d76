"""An intake that keeps every frame a source hands it, for tests of sources and supervisors.

Sources call it in their own threads, as they call the pod's crop intake; it counts what it took
the way the pod's intake does, so a supervisor can report on it.
"""

from __future__ import annotations

import asyncio
import threading
import time

from classroom_inference.serving.frames import Frame


class Collecting:
    def __init__(self, limit: int | None = None) -> None:
        """`limit`: close after this many frames, as a pod stops taking a removed stream's."""
        self.limit = limit
        self.received: list[Frame] = []
        self.received_at: list[float] = []  # when each frame reached the intake
        self.closed = False
        self.frames = 0
        self.dropped = 0
        self.first_arrival: float | None = None
        self.last_arrival: float | None = None
        self._lock = threading.Lock()

    def begin(self) -> None:
        self.first_arrival = None

    def frame(self, frame: Frame) -> None:
        with self._lock:
            if self.closed:
                return
            self.received.append(frame)
            self.received_at.append(time.monotonic())
            self.frames += 1
            self.last_arrival = frame.arrived
            if self.first_arrival is None:
                self.first_arrival = frame.arrived
            if self.limit is not None and len(self.received) >= self.limit:
                self.closed = True

    async def until(self, count: int, give_up_s: float = 30.0) -> None:
        """Wait until `count` frames came (giving up only stops a broken test from hanging)."""
        async with asyncio.timeout(give_up_s):
            while len(self.received) < count:  # noqa: ASYNC110 - frames come from a thread
                await asyncio.sleep(0.005)

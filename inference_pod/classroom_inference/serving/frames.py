"""What ingest works with: decoded frames, where a stream's frames go, and a stream's state.

A source produces frames in a thread of its own and hands each to its stream's `Intake` right
there: the face crops are cut in that thread, straight into the batcher's buffers
(serving/intake.py). The event loop sees a stream only when its state changes. Pixels stay in
this process: nothing here is ever serialised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np


class StreamState(enum.StrEnum):
    CONNECTING = "Connecting"
    HEALTHY = "Healthy"
    FAILED = "Failed"
    STOPPED = "Stopped"


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded frame. `arrived` is time.monotonic() when it left the decoder."""

    stream_id: str
    image: np.ndarray  # H x W x 3 uint8 RGB
    arrived: float
    index: int


class Intake(Protocol):
    """Where a stream's frames go. Called in the thread that produced the frame, never on the
    event loop; after `closed` turns true it takes nothing more."""

    closed: bool

    def frame(self, frame: Frame) -> None: ...


class Source(Protocol):
    """A stream's reader. `run()` hands every frame to the intake until the stream ends
    (returning) or fails (raising a StreamError); `close()` stops it."""

    async def run(self, intake: Intake) -> None: ...

    async def close(self) -> None: ...


class BulkQueue(Protocol):
    def put_many(self, students: np.ndarray, arrived: float, images: np.ndarray,
                 which: np.ndarray | None = None) -> np.ndarray: ...


@runtime_checkable
class StudentIntake(Intake, Protocol):
    """An intake whose every frame gives one crop of one student (a per-student stream). A bulk
    producer that knows the crop each frame gives (`crop`) may queue the crops of many such
    streams in one step on their shared `queue`, and then keeps their counters itself: a frame
    more, its arrival, and whether its crop was refused."""

    student: int
    queue: BulkQueue
    frames: int
    dropped: int
    first_arrival: float | None
    last_arrival: float | None

    def crop(self, image: np.ndarray) -> np.ndarray: ...

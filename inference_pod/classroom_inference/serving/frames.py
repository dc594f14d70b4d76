"""What ingest hands to the rest of the pod: decoded frames and face crops, and a stream's state.

Ingest (sources, reconnects, face crops, seat tracking) produces `Crop`s; the batcher, runner and
analysis consume them. Pixels stay in this process: nothing here is ever serialised.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol

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


@dataclass(frozen=True, eq=False)
class Crop:
    """One student's face, already resized to the engine input (H x W x C uint8).

    `seat` is stable for as long as the tracker follows the student: "0" for a per-student stream,
    the tracker's seat id for a room camera. Student ids leave the pod only as keyed hashes.
    """

    stream_id: str
    seat: str
    image: np.ndarray
    arrived: float
    frame_index: int


class Source(Protocol):
    """A stream's decoder. `frames()` yields until the stream ends or fails (raising)."""

    def frames(self) -> AsyncIterator[Frame]: ...

    async def close(self) -> None: ...

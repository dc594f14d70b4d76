"""Face crops at the engine's input size: the only pixel work the host does is a crop and a resize.

A cropper says where the faces of a frame are (`seats`: seat id and box); `cut` resizes a box's
pixels straight into the row of a batch buffer the crop goes to, so a crop is written once.

Per-student streams show one student, framed by their camera: the face is the centre square.
Room cameras show a class: a face detector runs every few frames (in a worker thread when an
executor is given, so the stream's own thread never waits on it) and the seat tracker carries ids
between detections; each seat seen in the latest detection gives one crop per frame.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import Executor, Future
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np

from .detector import Box, FaceDetector, HaarFaceDetector
from .frames import Frame
from .tracker import Seat, SeatTracker

LAYOUTS = ("per-student", "room")
STUDENT_SEAT = "0"


@dataclass(frozen=True)
class CropShape:
    """The engine input: height x width x channels (1 grey or 3 RGB) uint8."""

    height: int
    width: int
    channels: int

    def __post_init__(self) -> None:
        if self.height < 1 or self.width < 1:
            raise ValueError(f"crop size {self.height}x{self.width} must be at least 1x1")
        if self.channels not in (1, 3):
            raise ValueError(f"crop channels is {self.channels}; engines take 1 (grey) or 3 (RGB)")

    @classmethod
    def from_meta(cls, engine_input: Mapping[str, Any]) -> CropShape:
        """From meta.json's "input" object (docs/contracts.md, engine store)."""
        try:
            return cls(
                int(engine_input["height"]),
                int(engine_input["width"]),
                int(engine_input["channels"]),
            )
        except KeyError as missing:
            raise ValueError(f"engine meta input has no {missing.args[0]!r}") from None


class Cropper(Protocol):
    def seats(self, frame: Frame) -> list[tuple[str, Box]]:
        """(seat id, box) of every face to crop from the frame."""
        ...


def centre_square(height: int, width: int, fraction: float = 1.0) -> Box:
    """The centred square of side fraction x the frame's shorter side."""
    side = min(height, width) * fraction
    return Box((width - side) / 2, (height - side) / 2, side, side)


def face_square(face: Box, height: int, width: int, margin: float) -> Box:
    """A square around a detected face, grown by `margin` of its size on each side (detectors
    box the face tightly; models are trained on a little context), moved to lie inside the frame."""
    side = min(max(face.w, face.h) * (1 + 2 * margin), height, width)
    cx, cy = face.centre
    x = min(max(cx - side / 2, 0.0), width - side)
    y = min(max(cy - side / 2, 0.0), height - side)
    return Box(x, y, side, side)


def cut(image: np.ndarray, box: Box, shape: CropShape, out: np.ndarray | None = None) -> np.ndarray:
    """The box's pixels resized to the crop shape, H x W x C uint8, written into `out` if given
    (a contiguous H x W x C uint8 array: a row of a batch buffer)."""
    height, width = image.shape[:2]
    x0, y0 = max(0, round(box.x)), max(0, round(box.y))
    x1 = min(width, max(x0 + 1, round(box.x + box.w)))
    y1 = min(height, max(y0 + 1, round(box.y + box.h)))
    region = image[y0:y1, x0:x1]
    if shape.channels == 3:
        return resize(region, shape.height, shape.width, out)
    grey = cv2.cvtColor(resize(region, shape.height, shape.width), cv2.COLOR_RGB2GRAY)
    if out is None:
        return grey[:, :, np.newaxis]
    np.copyto(out[:, :, 0], grey)
    return out


def resize(region: np.ndarray, height: int, width: int,
           out: np.ndarray | None = None) -> np.ndarray:
    """Resize with little aliasing at a bounded cost, into `out` if given. Shrinking by 2x or
    more: bilinear to twice the target, then area-averaging by exactly 2 (OpenCV's fast path).
    Plain INTER_AREA at other factors costs 2-8 ms for a 480-1080 px face; this stays under 1 ms.
    OpenCV releases the GIL while it resizes, so streams crop on many cores at once."""
    h, w = region.shape[:2]
    if (h, w) == (height, width):
        if out is None:
            return region
        np.copyto(out, region)
        return out
    if h < 2 * height or w < 2 * width:
        return _resized(region, height, width, cv2.INTER_LINEAR, out)
    if (h, w) != (2 * height, 2 * width):
        region = cv2.resize(region, (2 * width, 2 * height), interpolation=cv2.INTER_LINEAR)
    return _resized(region, height, width, cv2.INTER_AREA, out)


def _resized(region: np.ndarray, height: int, width: int, interpolation: int,
             out: np.ndarray | None) -> np.ndarray:
    if out is None:
        return cv2.resize(region, (width, height), interpolation=interpolation)
    written = cv2.resize(region, (width, height), dst=out, interpolation=interpolation)
    if written is not out:  # OpenCV made a new array after all: the crop must be in `out`
        np.copyto(out, written)
    return out


class StudentCropper:
    def __init__(self, shape: CropShape, *, face_fraction: float = 1.0) -> None:
        if not 0 < face_fraction <= 1:
            raise ValueError(f"face_fraction is {face_fraction}; give a fraction in (0, 1]")
        self.shape = shape
        self.face_fraction = face_fraction

    def seats(self, frame: Frame) -> list[tuple[str, Box]]:
        height, width = frame.image.shape[:2]
        return [(STUDENT_SEAT, centre_square(height, width, self.face_fraction))]


class RoomCropper:
    """One crop per seat seen in the latest detection. Seats not seen then give no crop: the
    analysis marks them missing rather than guessing."""

    def __init__(
        self,
        shape: CropShape,
        *,
        detector: FaceDetector | None = None,
        tracker: SeatTracker | None = None,
        detect_every: int = 5,
        margin: float = 0.2,
        executor: Executor | None = None,
    ) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every is {detect_every}; give 1 or more frames")
        self.shape = shape
        self.detector = detector or HaarFaceDetector()
        self.tracker = tracker or SeatTracker()
        self.detect_every = detect_every
        self.margin = margin
        self._executor = executor
        self._pending: tuple[Future[list[Box]], float] | None = None
        self._countdown = 0  # frames until the next detection is due
        self._visible: list[Seat] = []

    def seats(self, frame: Frame) -> list[tuple[str, Box]]:
        self._collect()
        if self._countdown <= 0 and self._pending is None:
            self._detect(frame)
            self._countdown = self.detect_every
        self._countdown -= 1
        height, width = frame.image.shape[:2]
        return [(seat.seat_id, face_square(seat.box, height, width, self.margin))
                for seat in self._visible]

    def _detect(self, frame: Frame) -> None:
        if self._executor is None:
            self._visible = self.tracker.update(self.detector.detect(frame.image), frame.arrived)
        else:
            future = self._executor.submit(self.detector.detect, frame.image)
            self._pending = (future, frame.arrived)

    def _collect(self) -> None:
        if self._pending is not None and self._pending[0].done():
            future, at = self._pending
            self._pending = None
            self._visible = self.tracker.update(future.result(), at)


def cropper_for(layout: str, shape: CropShape, *, executor: Executor | None = None) -> Cropper:
    """The cropper for a stream's layout from the assignment ("per-student" or "room")."""
    if layout == "per-student":
        return StudentCropper(shape)
    if layout == "room":
        return RoomCropper(shape, executor=executor)
    raise ValueError(f"stream layout is {layout!r}; use one of {', '.join(LAYOUTS)}")

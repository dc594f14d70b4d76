"""A stream's way into the batcher, run in the thread that produced its frames.

For each frame the cropper says where the faces are; each face gets a row of the batch being
filled, tagged with its student's id, and its pixels are resized straight into that row
(crops.cut). Nothing goes through the event loop, and a crop is written once: decoding
(PyAV) and resizing (OpenCV) release the GIL, so streams crop on as many cores as there are.

The counters are plain ints, each written by the stream's one producing thread and read by the
event loop for the status document and metrics.
"""

from __future__ import annotations

import threading

import numpy as np

from .batcher import Batcher
from .crops import STUDENT_SEAT, Cropper, CropShape, StudentCropper, cut
from .detector import Box
from .frames import Frame
from .students import StudentIds


class StreamIntake:
    def __init__(self, stream_id: str, cropper: Cropper, shape: CropShape, batcher: Batcher,
                 students: StudentIds) -> None:
        self.stream_id = stream_id
        self.cropper = cropper
        self.shape = shape
        self.batcher = batcher
        self.students = students
        self.closed = False
        self.frames = 0  # frames received
        self.dropped = 0  # frames with a crop the batcher refused (the engine is behind)
        self._crops = 0
        self.first_arrival: float | None = None  # first frame since `begin()`
        self.last_arrival: float | None = None
        # Held while a frame is taken in, so that once close() returns nothing more is queued.
        self._lock = threading.Lock()

    @property
    def crops(self) -> int:
        """Crops queued for the engine."""
        return self._crops

    def begin(self) -> None:
        """A new attempt at reading the stream starts."""
        self.first_arrival = None

    def frame(self, frame: Frame) -> None:
        with self._lock:
            if self.closed:
                return
            self._arrived(frame.arrived)
            refused = False
            for seat, box in self.cropper.seats(frame):
                if self._queue(self.students.of(self.stream_id, seat), frame, box):
                    self._crops += 1
                else:
                    refused = True
            if refused:
                self.dropped += 1

    def _queue(self, student: int, frame: Frame, box: Box) -> bool:
        """Resize the face in `box` straight into a reserved row for `student`; False when the
        batcher refused it (the engine is behind)."""
        place = self.batcher.reserve(student, frame.arrived)
        if place is None:
            return False
        fill, row = place
        try:
            cut(frame.image, box, self.shape, fill.images[row])
        finally:
            self.batcher.commit(fill, row)
        return True

    def _arrived(self, at: float) -> None:
        self.frames += 1
        self.last_arrival = at
        if self.first_arrival is None:
            self.first_arrival = at

    def close(self) -> None:
        """Take nothing more; returns once a frame being taken in is queued."""
        with self._lock:
            self.closed = True


class StudentStreamIntake(StreamIntake):
    """A per-student stream: every frame gives one crop of its one student, so a bulk producer
    can queue many such streams' crops at once and keep their counters (frames.StudentIntake)."""

    def __init__(self, stream_id: str, cropper: StudentCropper, shape: CropShape,
                 batcher: Batcher, students: StudentIds) -> None:
        super().__init__(stream_id, cropper, shape, batcher, students)
        self.student = students.of(stream_id, STUDENT_SEAT)
        self.queue = batcher
        self._centre = cropper

    @property
    def crops(self) -> int:
        return self.frames - self.dropped  # one crop a frame

    def frame(self, frame: Frame) -> None:
        with self._lock:
            if self.closed:
                return
            self._arrived(frame.arrived)
            ((_, box),) = self._centre.seats(frame)
            if not self._queue(self.student, frame, box):
                self.dropped += 1

    def crop(self, image: np.ndarray) -> np.ndarray:
        """The crop `frame()` would queue for a frame of this image."""
        ((_, box),) = self._centre.seats(Frame(self.stream_id, image, 0.0, 0))
        return np.ascontiguousarray(cut(image, box, self.shape))


def intake_for(stream_id: str, cropper: Cropper, shape: CropShape, batcher: Batcher,
               students: StudentIds) -> StreamIntake:
    if isinstance(cropper, StudentCropper):
        return StudentStreamIntake(stream_id, cropper, shape, batcher, students)
    return StreamIntake(stream_id, cropper, shape, batcher, students)

"""Room cameras: one crop per student seen, under a seat id that stays put; detection every N."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numpy as np
from classroom_inference.serving.crops import CropShape, RoomCropper, cropper_for, cut
from classroom_inference.serving.detector import Box, HaarFaceDetector
from classroom_inference.serving.frames import Frame
from streams.videos import Student, room_frame

ROOM = [Student(120, 100), Student(320, 100), Student(520, 100), Student(220, 260),
        Student(420, 260)]
SHAPE = CropShape(64, 64, 3)


class CountingHaar(HaarFaceDetector):
    """The real detector, counting how often it runs."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def detect(self, image: np.ndarray) -> list[Box]:
        self.calls += 1
        return super().detect(image)


def frames(students: list[Student], count: int, start: int = 0) -> list[Frame]:
    image = room_frame(students)
    return [Frame("room-101-cam", image, (start + i) / 25, start + i) for i in range(count)]


def crops(cropper: RoomCropper, frame: Frame) -> dict[str, np.ndarray]:
    """Seat id -> the crop of that face, as the intake would write it."""
    return {seat: cut(frame.image, box, cropper.shape) for seat, box in cropper.seats(frame)}


def test_one_crop_per_student_with_seats_in_reading_order() -> None:
    cropper = RoomCropper(SHAPE)
    found = crops(cropper, frames(ROOM, 1)[0])
    assert list(found) == ["1", "2", "3", "4", "5"]
    assert all(c.shape == (64, 64, 3) for c in found.values())
    # Each crop is a face: bright skin in the middle, darker background at the corners.
    for crop in found.values():
        assert crop[28:36, 20:44].mean() > crop[:6, :6].mean() + 40


def test_seats_are_stable_over_frames_and_detection_runs_every_n() -> None:
    detector = CountingHaar()
    cropper = RoomCropper(SHAPE, detector=detector, detect_every=5)
    per_frame = [[seat for seat, _ in cropper.seats(f)] for f in frames(ROOM, 20)]
    assert detector.calls == 4
    assert all(seats == ["1", "2", "3", "4", "5"] for seats in per_frame)


def test_a_hidden_student_gives_no_crop_and_gets_the_seat_back() -> None:
    cropper = RoomCropper(SHAPE, detect_every=1)
    before = crops(cropper, frames(ROOM, 1)[0])
    absent = [s for s in ROOM if s != ROOM[3]]
    hidden = list(crops(cropper, frames(absent, 1, start=1)[0]))
    assert hidden == ["1", "2", "3", "5"]
    after = crops(cropper, frames(ROOM, 1, start=2)[0])
    assert after.keys() == before.keys()
    assert np.abs(after["4"].astype(int) - before["4"].astype(int)).mean() < 3


def test_grey_engines_get_one_channel_crops() -> None:
    cropper = RoomCropper(CropShape(48, 48, 1))
    found = crops(cropper, frames(ROOM, 1)[0])
    assert len(found) == 5 and all(c.shape == (48, 48, 1) for c in found.values())


def test_detection_in_a_worker_thread_does_not_hold_up_the_frame() -> None:
    with ThreadPoolExecutor(max_workers=1) as pool:
        cropper = cropper_for("room", SHAPE, executor=pool)
        assert isinstance(cropper, RoomCropper)
        stream = frames(ROOM, 2)
        assert cropper.seats(stream[0]) == []  # handed to the worker; nothing known yet
        assert cropper._pending is not None
        cropper._pending[0].result(timeout=60)
        # The next frame picks the finished detection up.
        assert [seat for seat, _ in cropper.seats(stream[1])] == ["1", "2", "3", "4", "5"]

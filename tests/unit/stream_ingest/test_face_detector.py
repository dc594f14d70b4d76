"""OpenCV's Haar cascade finds the drawn faces the stream tests use, where they are, and nothing
in a frame without faces."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from classroom_inference.serving.detector import Box, HaarFaceDetector
from streams.videos import Student, face, room_frame

ROOM = [Student(120, 100), Student(320, 100), Student(520, 100), Student(220, 260),
        Student(420, 260)]


def near(box: Box, student: Student) -> bool:
    cx, cy = box.centre
    return abs(cx - student.x) < student.size / 4 and abs(cy - student.y) < student.size / 4


@pytest.mark.parametrize("size", [40, 60, 120, 200])
def test_one_drawn_face_is_found_where_it_is(size: int) -> None:
    frame = room_frame([Student(300, 220, size)], width=640, height=480)
    boxes = HaarFaceDetector().detect(frame)
    assert len(boxes) == 1
    assert near(boxes[0], Student(300, 220, size))
    assert 0.4 * size < boxes[0].w < 1.2 * size  # the oval fills about half the tile


def test_every_student_of_a_room_is_found() -> None:
    boxes = HaarFaceDetector().detect(room_frame(ROOM))
    assert len(boxes) == len(ROOM)
    assert all(any(near(box, s) for box in boxes) for s in ROOM)


def test_no_faces_in_an_empty_room_or_in_noise() -> None:
    detector = HaarFaceDetector()
    assert detector.detect(np.full((360, 640, 3), 70, np.uint8)) == []
    noise = np.random.default_rng(3).integers(0, 255, (360, 640, 3), dtype=np.uint8)
    assert detector.detect(cv2.GaussianBlur(noise, (0, 0), 3)) == []


def test_a_face_without_eyes_is_not_a_face() -> None:
    blank = face(120)
    blank[:60] = cv2.GaussianBlur(np.full((60, 120), 200, np.uint8), (0, 0), 1)
    frame = np.repeat(blank[:, :, np.newaxis], 3, axis=2)
    assert HaarFaceDetector().detect(frame) == []


def test_a_full_hd_frame_is_searched_downscaled_and_boxed_in_its_own_pixels() -> None:
    students = [Student(400, 300, 160), Student(1500, 700, 160)]
    frame = room_frame(students, width=1920, height=1080)
    boxes = HaarFaceDetector(detect_width=480).detect(frame)
    assert len(boxes) == 2
    assert all(any(near(box, s) for box in boxes) for s in students)


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match=r"scale_factor is 1\.0"):
        HaarFaceDetector(scale_factor=1.0)
    with pytest.raises(FileNotFoundError, match="could not be loaded"):
        HaarFaceDetector(cascade="no_such_cascade.xml")

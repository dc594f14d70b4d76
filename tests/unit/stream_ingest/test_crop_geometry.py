"""Crops: the right square of the frame, at the engine's height, width and channels."""

from __future__ import annotations

from dataclasses import astuple

import cv2
import numpy as np
import pytest
from classroom_inference.serving.crops import (
    CropShape,
    StudentCropper,
    centre_square,
    cropper_for,
    cut,
    face_square,
    resize,
)
from classroom_inference.serving.detector import Box
from classroom_inference.serving.frames import Frame


def frame_of(image: np.ndarray, index: int = 3) -> Frame:
    return Frame("room-101-0", image, 12.5, index)


@pytest.mark.parametrize(
    ("height", "width", "fraction", "box"),
    [
        (480, 640, 1.0, Box(80, 0, 480, 480)),
        (640, 480, 1.0, Box(0, 80, 480, 480)),
        (480, 640, 0.5, Box(200, 120, 240, 240)),
        (100, 100, 1.0, Box(0, 0, 100, 100)),
    ],
)
def test_centre_square(height: int, width: int, fraction: float, box: Box) -> None:
    assert centre_square(height, width, fraction) == box


def test_face_square_grows_the_face_by_its_margin() -> None:
    assert face_square(Box(300, 200, 40, 50), 480, 640, margin=0.2) == Box(285, 190, 70, 70)


@pytest.mark.parametrize(
    ("face", "expected"),
    [
        (Box(0, 0, 40, 40), Box(0, 0, 56, 56)),  # top-left corner: moved in, not cut
        (Box(620, 450, 20, 30), Box(598, 438, 42, 42)),  # bottom-right corner
        (Box(100, 50, 600, 600), Box(160, 0, 480, 480)),  # bigger than the frame: its side
    ],
)
def test_face_square_stays_inside_the_frame(face: Box, expected: Box) -> None:
    got = face_square(face, 480, 640, margin=0.2)
    assert astuple(got) == pytest.approx(astuple(expected))
    assert got.x >= 0 and got.y >= 0 and got.x + got.w <= 640 and got.y + got.h <= 480


def test_cut_takes_the_box_pixels() -> None:
    image = np.zeros((100, 200, 3), np.uint8)
    image[:, 100:] = (10, 200, 30)  # right half green-ish
    right = cut(image, Box(120, 10, 60, 60), CropShape(32, 32, 3))
    assert right.shape == (32, 32, 3)
    assert (right == (10, 200, 30)).all()
    left = cut(image, Box(10, 10, 60, 60), CropShape(32, 32, 3))
    assert (left == 0).all()


def test_cut_to_grey_has_one_channel() -> None:
    image = np.full((64, 64, 3), (255, 0, 0), np.uint8)  # pure red
    grey = cut(image, Box(0, 0, 64, 64), CropShape(48, 48, 1))
    assert grey.shape == (48, 48, 1)
    assert int(grey[0, 0, 0]) == 76  # ITU-R BT.601 luma of red


def test_cut_keeps_an_exact_size_region_as_is() -> None:
    image = np.random.default_rng(1).integers(0, 255, (64, 64, 3), dtype=np.uint8)
    assert (cut(image, Box(0, 0, 64, 64), CropShape(64, 64, 3)) == image).all()


def test_cut_enlarges_a_small_face() -> None:
    image = np.zeros((120, 160, 3), np.uint8)
    image[40:60, 40:60] = 255
    crop = cut(image, Box(40, 40, 20, 20), CropShape(224, 224, 3))
    assert crop.shape == (224, 224, 3)
    assert crop.mean() > 250


def test_student_crop_is_the_centre_face_at_engine_size() -> None:
    image = np.zeros((480, 640, 3), np.uint8)
    image[:, 80:560] = 180  # the centre square: the student
    seats = StudentCropper(CropShape(64, 64, 3)).seats(frame_of(image))
    assert seats == [("0", Box(80, 0, 480, 480))]
    crop = cut(image, seats[0][1], CropShape(64, 64, 3))
    assert crop.shape == (64, 64, 3)
    assert (crop == 180).all()


def test_student_crop_of_a_narrower_face_fraction() -> None:
    image = np.zeros((200, 200, 3), np.uint8)
    image[50:150, 50:150] = 255
    ((_, box),) = StudentCropper(CropShape(20, 20, 1), face_fraction=0.5).seats(frame_of(image))
    crop = cut(image, box, CropShape(20, 20, 1))
    assert crop.shape == (20, 20, 1)
    assert (crop == 255).all()


@pytest.mark.parametrize(("side", "channels"), [(64, 3), (300, 3), (1000, 3), (300, 1)])
def test_cut_into_a_batch_row_writes_the_same_crop_in_place(side: int, channels: int) -> None:
    """A crop is written once, straight into its row of the batch buffer."""
    image = np.random.default_rng(side).integers(0, 255, (side, side + 40, 3), dtype=np.uint8)
    shape = CropShape(64, 64, channels)
    box = Box(20, 0, side, side)
    batch = np.zeros((3, 64, 64, channels), np.uint8)
    written = cut(image, box, shape, batch[1])
    assert np.shares_memory(written, batch[1])
    assert (batch[1] == cut(image, box, shape)).all()
    assert not batch[0].any() and not batch[2].any()


def test_crop_shape_from_engine_meta() -> None:
    meta_input = {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                  "height": 64, "width": 48, "channels": 1}
    assert CropShape.from_meta(meta_input) == CropShape(64, 48, 1)
    with pytest.raises(ValueError, match="no 'channels'"):
        CropShape.from_meta({"height": 64, "width": 64})


@pytest.mark.parametrize(
    ("args", "words"),
    [((64, 64, 2), "1 (grey) or 3 (RGB)"), ((0, 64, 3), "at least 1x1")],
)
def test_crop_shape_is_checked(args: tuple[int, int, int], words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        CropShape(*args)


def test_cropper_for_layout() -> None:
    shape = CropShape(64, 64, 3)
    assert isinstance(cropper_for("per-student", shape), StudentCropper)
    with pytest.raises(ValueError, match="'hallway'; use one of per-student, room"):
        cropper_for("hallway", shape)


@pytest.mark.parametrize("side", [480, 720, 1080])
def test_shrinking_far_does_not_alias(side: int) -> None:
    """Stripes two pixels wide, the worst case: plain bilinear shrinking turns them into false
    patterns (far from the area average); ours stays within a fraction of that error."""
    stripes = np.zeros((side, side, 3), np.uint8)
    stripes[:, ::4] = stripes[:, 1::4] = 255
    area = cv2.resize(stripes, (224, 224), interpolation=cv2.INTER_AREA).astype(float)
    bilinear = cv2.resize(stripes, (224, 224), interpolation=cv2.INTER_LINEAR).astype(float)
    ours = resize(stripes, 224, 224).astype(float)
    assert ours.shape == (224, 224, 3)
    assert np.abs(ours - area).mean() < 0.25 * np.abs(bilinear - area).mean()
    assert abs(ours.mean() - stripes.mean()) < 1  # no brightness drift from the resize


def test_enlarging_and_same_size() -> None:
    small = np.full((50, 60, 3), 90, np.uint8)
    assert resize(small, 224, 224).shape == (224, 224, 3)
    assert resize(small, 50, 60) is small

"""Calibration and validation crops from a folder or archive, decoded as the pod would see them."""

from __future__ import annotations

import io
import tarfile
import zipfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from classroom_inference.builder.errors import CalibrationFailed, SamplesInvalid
from classroom_inference.builder.samples import load_images, synthetic_faces, write_images

SHAPE = (24, 24, 3)
FIELD = "spec.engine.calibration.uri"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    write_images(synthetic_faces(5, (40, 40, 3), seed=2), tmp_path / "faces")
    (tmp_path / "faces" / "notes.txt").write_text("not an image, skipped")
    return tmp_path / "faces"


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    assert ok
    return data.tobytes()


def test_folder_zip_and_tar_give_the_same_crops(folder: Path, tmp_path: Path) -> None:
    names = sorted(p.name for p in folder.glob("*.png"))
    with zipfile.ZipFile(tmp_path / "faces.zip", "w") as archive:
        for name in names:
            archive.write(folder / name, f"set/{name}")
    with tarfile.open(tmp_path / "faces.tar.gz", "w:gz") as archive:
        for name in names:
            archive.add(folder / name, f"set/{name}")
    from_folder = load_images(folder, 100, SHAPE, field=FIELD, error=CalibrationFailed)
    assert from_folder.shape == (5, *SHAPE) and from_folder.dtype == np.uint8
    for archive_path in (tmp_path / "faces.zip", tmp_path / "faces.tar.gz"):
        np.testing.assert_array_equal(
            load_images(archive_path, 100, SHAPE, field=FIELD, error=CalibrationFailed),
            from_folder)


def test_count_limits_the_crops(folder: Path) -> None:
    assert len(load_images(folder, 3, SHAPE, field=FIELD, error=CalibrationFailed)) == 3


def test_images_arrive_rgb_and_resized(tmp_path: Path) -> None:
    red_bgr = np.zeros((50, 30, 3), dtype=np.uint8)
    red_bgr[..., 2] = 255
    (tmp_path / "red.png").write_bytes(_png(red_bgr))
    crops = load_images(tmp_path, 1, SHAPE, field=FIELD, error=CalibrationFailed)
    assert crops.shape == (1, *SHAPE)
    assert crops[0, 5, 5].tolist() == [255, 0, 0]
    gray = load_images(tmp_path, 1, (24, 24, 1), field=FIELD, error=CalibrationFailed)
    assert gray.shape == (1, 24, 24, 1) and 70 < int(gray[0, 5, 5, 0]) < 80  # 0.299 * 255


def test_hostile_member_names_are_only_read(tmp_path: Path) -> None:
    archive = tmp_path / "evil.tar"
    data = _png(np.full((8, 8, 3), 128, np.uint8))
    with tarfile.open(archive, "w") as tar:
        info = tarfile.TarInfo("../../escaped.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    crops = load_images(archive, 10, SHAPE, field=FIELD, error=CalibrationFailed)
    assert len(crops) == 1
    assert not (tmp_path.parent / "escaped.png").exists()


def test_not_an_archive(tmp_path: Path) -> None:
    odd = tmp_path / "faces.rar"
    odd.write_bytes(b"Rar!")
    with pytest.raises(CalibrationFailed, match=r"neither a folder nor an archive.*\.tar\.gz"):
        load_images(odd, 10, SHAPE, field=FIELD, error=CalibrationFailed)


def test_validation_sets_fail_with_their_own_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(SamplesInvalid, match=r"spec\.validation\.uri: empty holds no images"):
        load_images(tmp_path / "empty", 10, SHAPE, field="spec.validation.uri",
                    error=SamplesInvalid)


def test_synthetic_faces_are_seeded_and_varied() -> None:
    a, b = synthetic_faces(8, SHAPE, seed=5), synthetic_faces(8, SHAPE, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, synthetic_faces(8, SHAPE, seed=6))
    brightness = a.reshape(8, -1).mean(axis=1)
    assert brightness.max() - brightness.min() > 30  # lighting varies between crops

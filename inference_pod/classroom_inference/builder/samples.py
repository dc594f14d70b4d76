"""Face-crop sample sets for calibration and validation: user images, or a seeded synthetic set.

User sets are a folder or a .tar/.tar.gz/.tgz/.zip of images. Archives are read in memory, never
extracted, so a hostile member name cannot write anywhere. Images are decoded with OpenCV, turned
into RGB (or grayscale), and resized to the engine input as the pod does (area interpolation).
"""

from __future__ import annotations

import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np

from classroom_inference.builder.errors import BuildError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".pgm", ".pnm", ".tif",
                  ".tiff")
ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".zip")


def _is_image(name: str) -> bool:
    base = name.rsplit("/", 1)[-1]
    return not base.startswith(".") and base.lower().endswith(IMAGE_SUFFIXES)


def _members(path: Path, field: str, error: type[BuildError]) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every image in a folder or archive, in name order."""
    name = path.name.lower()
    try:
        if path.is_dir():
            for file in sorted(p for p in path.rglob("*") if p.is_file()):
                if _is_image(file.name):
                    yield str(file.relative_to(path)), file.read_bytes()
        elif name.endswith(".zip"):
            with zipfile.ZipFile(path) as archive:
                for info in sorted(archive.infolist(), key=lambda i: i.filename):
                    if not info.is_dir() and _is_image(info.filename):
                        yield info.filename, archive.read(info)
        elif name.endswith((".tar", ".tar.gz", ".tgz")):
            with tarfile.open(path) as archive:
                for member in sorted(archive.getmembers(), key=lambda m: m.name):
                    handle = archive.extractfile(member) if member.isfile() else None
                    if handle is not None and _is_image(member.name):
                        yield member.name, handle.read()
        else:
            raise error(f"{field}: {path.name} is neither a folder nor an archive "
                        f"({', '.join(ARCHIVE_SUFFIXES)}); pack the images as one of those")
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
        raise error(f"{field}: cannot read {path.name} as a folder or archive of images: "
                    f"{exc}; repack it as .tar.gz or .zip") from None


def decode(data: bytes, name: str, shape: tuple[int, int, int], *, field: str,
           error: type[BuildError]) -> np.ndarray:
    """One image -> uint8 [H, W, C] RGB (C=3) or grayscale (C=1)."""
    height, width, channels = shape
    flag = cv2.IMREAD_COLOR if channels == 3 else cv2.IMREAD_GRAYSCALE
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), flag) if data else None
    if image is None:
        raise error(f"{field}: {name} is not a readable image; remove it or replace it with "
                    "a JPEG or PNG face crop")
    if channels == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    image = cv2.resize(image, (width, height), interpolation=cv2.INTER_AREA)
    return image.reshape(height, width, channels)


def load_images(path: Path, count: int, shape: tuple[int, int, int], *, field: str,
                error: type[BuildError]) -> np.ndarray:
    """Up to `count` crops from a folder or archive as uint8 [n, H, W, C]."""
    crops = []
    for name, data in _members(path, field, error):
        crops.append(decode(data, name, shape, field=field, error=error))
        if len(crops) == count:
            break
    if not crops:
        raise error(f"{field}: {path.name} holds no images ({', '.join(IMAGE_SUFFIXES)}); give "
                    "a folder or archive of face crops")
    return np.stack(crops)


def synthetic_faces(count: int, shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Seeded face-like crops: skin-toned oval, eyes, brows, a mouth, varied light and pose.

    Not real faces, but they span what a crop varies in (exposure, tone, position, expression),
    which is what the numerics of an engine are sensitive to.
    """
    height, width, channels = shape
    rng = np.random.default_rng(seed)
    out = np.empty((count, height, width, channels), dtype=np.uint8)
    s = min(height, width)
    for i in range(count):
        background = rng.uniform(20, 235, size=3)
        image = np.empty((height, width, 3), dtype=np.float32)
        image[:] = background
        image += rng.normal(0, 12, size=(height, width, 1))
        red = rng.uniform(110, 250)
        tone = np.array([red, red * rng.uniform(0.62, 0.85), red * rng.uniform(0.45, 0.72)])
        cx = width / 2 + rng.uniform(-0.12, 0.12) * s
        cy = height / 2 + rng.uniform(-0.08, 0.08) * s
        axes = (int(s * rng.uniform(0.26, 0.36)), int(s * rng.uniform(0.34, 0.46)))
        canvas = np.ascontiguousarray(image)
        centre = (int(cx), int(cy))
        cv2.ellipse(canvas, centre, axes, float(rng.uniform(-15, 15)), 0, 360,
                    tone.tolist(), -1)
        eye_dx, eye_y = int(axes[0] * 0.42), int(cy - axes[1] * 0.18)
        eye = (max(1, int(s * 0.05)), max(1, int(s * rng.uniform(0.01, 0.035))))
        for side in (-1, 1):
            ex = int(cx + side * eye_dx + rng.uniform(-0.03, 0.03) * s)
            cv2.ellipse(canvas, (ex, eye_y), eye, 0, 0, 360, (30, 25, 25), -1)
            brow_y = eye_y - int(s * rng.uniform(0.05, 0.09))
            cv2.line(canvas, (ex - eye[0], brow_y), (ex + eye[0], brow_y + side * int(
                s * rng.uniform(-0.03, 0.03))), (40, 30, 25), max(1, s // 60))
        mouth_y = int(cy + axes[1] * 0.45)
        mouth = (int(axes[0] * rng.uniform(0.25, 0.55)), max(1, int(s * rng.uniform(0.01, 0.08))))
        smile = rng.uniform() < 0.5
        cv2.ellipse(canvas, (int(cx), mouth_y), mouth, 0, 0 if smile else 180,
                    180 if smile else 360, (90, 30, 40), -1)
        light = rng.uniform(0.35, 1.3)
        gradient = np.linspace(rng.uniform(0.7, 1.0), rng.uniform(1.0, 1.3), width)[None, :, None]
        rgb = np.clip(canvas * light * gradient, 0, 255).astype(np.uint8)
        if channels == 1:
            out[i] = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)[..., None]
        else:
            out[i] = rgb
    return out


def write_images(crops: np.ndarray, folder: Path) -> list[Path]:
    """Save crops as PNG files (for calibration folders in tests, benchmarks and demos)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, crop in enumerate(crops):
        path = folder / f"face-{i:05d}.png"
        image = crop if crop.shape[-1] == 1 else cv2.cvtColor(crop, cv2.COLOR_RGB2BGR)
        if not cv2.imwrite(str(path), image):
            raise OSError(f"cannot write {path}")
        paths.append(path)
    return paths

"""The room camera's default face detector: OpenCV's Haar cascade, which ships with OpenCV 4.

It runs on a downscaled grey copy of the frame, for speed; boxes come back in the frame's own
pixels. OpenCV 5 removed the cascade, hence the pin below 5. A detector model given in the spec can
replace it later through the same `FaceDetector` interface.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import cv2
import cv2.data
import numpy as np

DEFAULT_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in frame pixels; (x, y) is the top-left corner."""

    x: float
    y: float
    w: float
    h: float

    @property
    def centre(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    @property
    def area(self) -> float:
        return self.w * self.h

    def iou(self, other: Box) -> float:
        left, top = max(self.x, other.x), max(self.y, other.y)
        right = min(self.x + self.w, other.x + other.w)
        bottom = min(self.y + self.h, other.y + other.h)
        inter = max(0.0, right - left) * max(0.0, bottom - top)
        union = self.area + other.area - inter
        return inter / union if union > 0 else 0.0


class FaceDetector(Protocol):
    def detect(self, image: np.ndarray) -> list[Box]:
        """Faces in an H x W x 3 uint8 RGB frame, in that frame's pixels."""
        ...


class HaarFaceDetector:
    """Not safe to share between threads: give each room camera its own."""

    def __init__(
        self,
        *,
        detect_width: int = 960,
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_face_px: int = 24,
        cascade: str = DEFAULT_CASCADE,
    ) -> None:
        if detect_width < 64:
            raise ValueError(f"detect_width is {detect_width}; give at least 64 pixels")
        if scale_factor <= 1.0:
            raise ValueError(f"scale_factor is {scale_factor}; give more than 1.0 (e.g. 1.1)")
        path = Path(cv2.data.haarcascades) / cascade
        self._cascade = cv2.CascadeClassifier(str(path))
        if self._cascade.empty():
            raise FileNotFoundError(
                f"Haar cascade {path} could not be loaded; install opencv-python-headless 4.x "
                f"(OpenCV 5 no longer ships it)"
            )
        self.detect_width = detect_width
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_face_px = min_face_px

    def detect(self, image: np.ndarray) -> list[Box]:
        height, width = image.shape[:2]
        scale = min(1.0, self.detect_width / width)
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            image = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
        grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
        found = self._cascade.detectMultiScale(
            grey,
            scaleFactor=self.scale_factor,
            minNeighbors=self.min_neighbors,
            minSize=(self.min_face_px, self.min_face_px),
        )
        return [
            Box(float(x) / scale, float(y) / scale, float(w) / scale, float(h) / scale)
            for x, y, w, h in np.asarray(found).reshape(-1, 4)
        ]

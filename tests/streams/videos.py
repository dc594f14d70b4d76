"""Test videos, generated at test time into a temporary folder (never committed).

FFmpeg's lavfi sources make plain test patterns; PyAV writes frames drawn with numpy and OpenCV when
a test needs to control what is in them: a brightness that steers the test engine's attention, or
a room of procedurally drawn faces that OpenCV's Haar cascade detects (checked by the detector's own
unit test, so a change in OpenCV that stops detecting them fails there, not mysteriously here).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def _ffmpeg(args: list[str]) -> None:
    result = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"ffmpeg {' '.join(args)} failed: {result.stderr.strip()}")


def pattern_video(
    path: Path, *, seconds: float = 2.0, fps: int = 25, width: int = 320, height: int = 240
) -> Path:
    """H.264 with a key frame every second and no B-frames, as a camera streams it."""
    _ffmpeg([
        "-f", "lavfi", "-i", f"testsrc=size={width}x{height}:rate={fps}", "-t", str(seconds),
        "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-bf", "0",
        "-g", str(fps), "-pix_fmt", "yuv420p", str(path),
    ])
    return path


def audio_only(path: Path, *, seconds: float = 2.0) -> Path:
    """A stream with sound and no picture."""
    _ffmpeg([
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:a", "aac", "-b:a", "64k", str(path),
    ])
    return path


def write_video(
    path: Path,
    frames: int,
    draw: Callable[[int], np.ndarray],
    *,
    fps: int = 25,
    codec: str = "libx264",
) -> Path:
    """Encode `draw(i)` (H x W x 3 uint8 RGB) for i in range(frames)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream), f"{codec} is not a video codec"
        first = draw(0)
        stream.height, stream.width = first.shape[:2]
        stream.pix_fmt = "yuv420p"
        stream.time_base = Fraction(1, fps)
        stream.options = {"g": str(fps), "bf": "0", "preset": "ultrafast", "crf": "18"}
        for i in range(frames):
            image = first if i == 0 else draw(i)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def brightness_video(
    path: Path, levels: Sequence[int], *, fps: int = 25, width: int = 160, height: int = 120
) -> Path:
    """One frame per level, each a flat grey of that level."""
    return write_video(
        path,
        len(levels),
        lambda i: np.full((height, width, 3), levels[i], dtype=np.uint8),
        fps=fps,
    )


def face(size: int, *, skin: int = 200, background: int = 70) -> np.ndarray:
    """A grey size x size face drawn from ellipses: oval, brows, eyes, nose shadow, mouth.

    The Haar cascade keys on a darker eye band over lighter cheeks and a lighter nose bridge
    between the eyes, which these shapes give it.
    """
    s = size / 2
    image = np.full((size, size), background, np.uint8)
    cx, cy = size // 2, size // 2
    cv2.ellipse(image, (cx, cy), (int(s * 0.40), int(s * 0.52)), 0, 0, 360, skin, -1)
    dark = 40
    for side in (-1, 1):
        ex, ey = cx + side * int(s * 0.17), cy - int(s * 0.12)
        cv2.ellipse(image, (ex, ey - int(s * 0.09)), (int(s * 0.10), int(s * 0.025)), 0, 0, 360,
                    dark + 20, -1)
        cv2.ellipse(image, (ex, ey), (int(s * 0.085), int(s * 0.045)), 0, 0, 360, dark, -1)
    cv2.ellipse(image, (cx, cy + int(s * 0.12)), (int(s * 0.06), int(s * 0.03)), 0, 0, 360,
                skin - 60, -1)
    cv2.ellipse(image, (cx, cy + int(s * 0.28)), (int(s * 0.14), int(s * 0.04)), 0, 0, 360,
                dark + 30, -1)
    return cv2.GaussianBlur(image, (0, 0), max(0.5, size / 120))


@dataclass(frozen=True)
class Student:
    """A face of side `size` centred at (x, y) in the room frame."""

    x: int
    y: int
    size: int = 80


def room_frame(
    students: Sequence[Student], *, width: int = 640, height: int = 360, background: int = 70
) -> np.ndarray:
    """An RGB classroom frame with one drawn face per student."""
    grey = np.full((height, width), background, np.uint8)
    for student in students:
        tile = face(student.size, background=background)
        x0, y0 = student.x - student.size // 2, student.y - student.size // 2
        grey[y0 : y0 + student.size, x0 : x0 + student.size] = tile
    return np.repeat(grey[:, :, np.newaxis], 3, axis=2)


def room_video(
    path: Path,
    students: Sequence[Student],
    *,
    seconds: float = 3.0,
    fps: int = 25,
    width: int = 640,
    height: int = 360,
) -> Path:
    """A still classroom camera: the drawn students, sitting still."""
    image = room_frame(students, width=width, height=height)
    return write_video(path, round(seconds * fps), lambda _: image, fps=fps)

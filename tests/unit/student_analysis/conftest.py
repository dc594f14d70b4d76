from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from classroom_inference.serving.analysis import Analysis
from classroom_inference.serving.assignment import AnalysisSettings
from classroom_inference.serving.pseudonym import Pseudonyms

EMOTIONS = ("neutral", "happy", "sad")
WALL_OFFSET = 1_800_000_000.0  # monotonic 0 is 2027-01-15T08:00:00Z


class Recorder:
    """The analysis under test and every event it emitted."""

    def __init__(self, heads: tuple[str, ...], settings: AnalysisSettings) -> None:
        self.events: list[dict[str, Any]] = []
        self.analysis = Analysis(
            settings, heads, EMOTIONS if "emotion" in heads else (), self.events.append,
            Pseudonyms("s" * 32).student, now=0.0, wall_offset=WALL_OFFSET,
        )
        self.heads = heads

    def ids(self, keys: list[tuple[str, str]]) -> np.ndarray:
        """The student ids crops of these (stream, seat) carry, as the intake tags them."""
        return np.array([self.analysis.ids.of(stream, seat) for stream, seat in keys], np.int64)

    def outputs(self, attention: list[float], emotion: int = 1) -> dict[str, np.ndarray]:
        n = len(attention)
        out: dict[str, np.ndarray] = {}
        if "attention" in self.heads:
            out["attention"] = np.array(attention, np.float32).reshape(n, 1)
        if "emotion" in self.heads:
            probs = np.full((n, len(EMOTIONS)), 0.1, np.float32)
            probs[:, emotion] = 0.8
            out["emotion"] = probs
        if "engagement" in self.heads:
            out["engagement"] = np.full((n, 1), 0.7, np.float32)
        return out

    def feed(self, stream: str, start: float, end: float, fps: float,
             attention: float | Callable[[float], float], seat: str = "0") -> float:
        """One crop per frame of `stream` in [start, end), ticking as a pod would."""
        frames = math.ceil((end - start) * fps - 1e-6)
        for k in range(frames):
            t = start + k / fps
            value = attention(t) if callable(attention) else attention
            self.analysis.observe(self.ids([(stream, seat)]), np.array([t]),
                                  self.outputs([value]))
            self.analysis.tick(t)
        return start + frames / fps

    def idle(self, start: float, end: float, step: float = 0.1) -> None:
        """Time passes with no crops (a dead camera): only the ticker runs."""
        t = start
        while t < end:
            self.analysis.tick(t)
            t = round(t + step, 9)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


@pytest.fixture
def recorder() -> Callable[..., Recorder]:
    def make(heads: tuple[str, ...] = ("attention", "emotion", "engagement"),
             **settings: float) -> Recorder:
        base = {"distracted_after_seconds": 30.0, "attention_threshold": 0.5,
                "smoothing_seconds": 2.0, "summary_every_seconds": 60.0}
        base.update(settings)
        return Recorder(heads, AnalysisSettings(**base))

    return make

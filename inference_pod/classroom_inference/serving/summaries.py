"""Reporting windows: per-student accumulators, and the summary events made from them.

A `Window` holds, per student row, what was observed since it was last cleared; the analysis
keeps one for the 1-second time series and one for the summaryEverySeconds summaries.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Event = dict[str, Any]


class Window:
    """Per-row sums over one reporting window; `seconds` is time per state (missing, focused,
    distracted), by the analysis's state codes."""

    def __init__(self, emotions: int) -> None:
        self.emotions = emotions
        self.resize(0)

    def resize(self, rows: int) -> None:
        def grown(name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
            new = np.zeros(shape, dtype=dtype)
            old = getattr(self, name, None)
            if old is not None:
                new[: old.shape[0]] = old
            return new

        self.samples = grown("samples", (rows,), np.int64)
        self.attention = grown("attention", (rows,), np.float64)
        self.engagement = grown("engagement", (rows,), np.float64)
        self.emotion = grown("emotion", (rows, self.emotions), np.float64)
        self.seconds = grown("seconds", (rows, 3), np.float64)
        self.alerts = grown("alerts", (rows,), np.int64)

    def clear(self, rows: int | slice = slice(None)) -> None:
        for array in (self.samples, self.attention, self.engagement, self.emotion,
                      self.seconds, self.alerts):
            array[rows] = 0


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


class SummaryWriter:
    """Builds summary events for the heads the engine has."""

    def __init__(self, heads: Sequence[str], emotion_labels: Sequence[str]) -> None:
        self.heads = tuple(heads)
        self.emotion_labels = tuple(emotion_labels)

    def emotion_mix(self, sums: np.ndarray) -> dict[str, float]:
        total = float(sums.sum())
        return {label: _share(float(v), total) for label, v in
                zip(self.emotion_labels, sums.tolist(), strict=True)}

    def student(self, window: Window, row: int, classroom: str, student: str,
                span: tuple[str, str]) -> Event:
        n = int(window.samples[row])
        missing, focused, distracted = (float(x) for x in window.seconds[row])
        event: Event = {
            "type": "student-summary", "classroom": classroom, "student": student,
            "from": span[0], "to": span[1], "samples": n,
            "seconds": {"observed": round(focused + distracted, 3), "missing": round(missing, 3)},
        }
        if "attention" in self.heads:
            event["seconds"] |= {"focused": round(focused, 3),
                                 "distracted": round(distracted, 3)}
            event["attentionMean"] = round(float(window.attention[row]) / n, 4) if n else None
            event["alerts"] = int(window.alerts[row])
        if "engagement" in self.heads:
            event["engagementMean"] = round(float(window.engagement[row]) / n, 4) if n else None
        if "emotion" in self.heads and n:
            mix = self.emotion_mix(window.emotion[row])
            event["emotion"] = mix
            event["dominantEmotion"] = max(mix, key=lambda k: mix[k])
        return event

    def classroom(self, classroom: str, students: list[Event], distracted_now: int,
                  span: tuple[str, str]) -> Event:
        """Per class: means over the students observed in the window (each student weighs one)."""
        seen = [e for e in students if e["samples"]]
        event: Event = {
            "type": "class-summary", "classroom": classroom, "from": span[0], "to": span[1],
            "students": len(students), "studentsObserved": len(seen),
        }

        def mean(key: str) -> float | None:
            values = [e[key] for e in seen if e.get(key) is not None]
            return round(sum(values) / len(values), 4) if values else None

        if "attention" in self.heads:
            focused = sum(e["seconds"]["focused"] for e in seen)
            distracted = sum(e["seconds"]["distracted"] for e in seen)
            event |= {"attentionMean": mean("attentionMean"),
                      "focusedShare": _share(focused, focused + distracted),
                      "distractedNow": distracted_now,
                      "alerts": sum(e["alerts"] for e in students)}
        if "engagement" in self.heads:
            event["engagementMean"] = mean("engagementMean")
        if "emotion" in self.heads and seen:
            mix = {k: round(sum(e["emotion"][k] for e in seen) / len(seen), 4)
                   for k in self.emotion_labels}
            event["emotion"] = mix
            event["dominantEmotion"] = max(mix, key=lambda k: mix[k])
        return event

"""Reporting windows: per-student accumulators, and the summary events made from them.

A `Window` holds, per student row, what was observed since it was last cleared; the analysis
keeps one for the 1-second time series and one for the summaryEverySeconds summaries. Samples go
into the series window only; the summary window takes each second in as the series closes it,
so a batch updates one window, not two.
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

    def absorb(self, other: Window, sign: int = 1) -> None:
        """Add (or with sign -1, take away) another window's samples and head sums, every row
        at once. Time per state and alerts are counted on a window directly, not absorbed."""
        self.samples += sign * other.samples
        self.attention += sign * other.attention
        self.engagement += sign * other.engagement
        self.emotion += sign * other.emotion

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

    def students(self, window: Window, rows: np.ndarray, who: Sequence[tuple[str, str]],
                 span: tuple[str, str]) -> list[Event]:
        """A student-summary per row; `who` holds each row's (classroom, pseudonymous id). The
        numbers of all rows are worked out at once; the loop only assembles events."""
        samples = window.samples[rows]
        seen = np.maximum(samples, 1)
        seconds = window.seconds[rows]
        missing, focused, distracted = (np.round(seconds[:, i], 3).tolist() for i in range(3))
        observed = np.round(seconds[:, 1] + seconds[:, 2], 3).tolist()
        attention = np.round(window.attention[rows] / seen, 4).tolist()
        engagement = np.round(window.engagement[rows] / seen, 4).tolist()
        alerts = window.alerts[rows].tolist()
        sums = window.emotion[rows]
        totals = sums.sum(axis=1, keepdims=True)
        shares = np.round(sums / np.where(totals > 0, totals, 1.0), 4)
        dominant, mixes = np.argmax(shares, axis=1).tolist(), shares.tolist()
        labels = self.emotion_labels
        events = []
        for k, n in enumerate(samples.tolist()):
            classroom, student = who[k]
            event: Event = {
                "type": "student-summary", "classroom": classroom, "student": student,
                "from": span[0], "to": span[1], "samples": n,
                "seconds": {"observed": observed[k], "missing": missing[k]},
            }
            if "attention" in self.heads:
                event["seconds"] |= {"focused": focused[k], "distracted": distracted[k]}
                event["attentionMean"] = attention[k] if n else None
                event["alerts"] = alerts[k]
            if "engagement" in self.heads:
                event["engagementMean"] = engagement[k] if n else None
            if "emotion" in self.heads and n:
                event["emotion"] = dict(zip(labels, mixes[k], strict=True))
                event["dominantEmotion"] = labels[dominant[k]]
            events.append(event)
        return events

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

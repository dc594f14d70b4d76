"""Reporting windows: per-student accumulators, and the summary events made from them.

A `Window` holds, per student row, what was observed since it was last cleared; the analysis
keeps one for the 1-second time series and one for the summaryEverySeconds summaries. Samples go
into the series window only; the summary window takes each second in as the series closes it,
so a batch updates one window, not two.

Each head counts its own samples: a crop whose head gave NaN or infinity is a missing sample for
that head. Emotions are counted as votes (the label each sample ranks first), so a share is the
fraction of samples whose most likely emotion was that label: in [0, 1] and summing to 1 whether
the engine gives probabilities or logits. The dominant emotion is the label with most votes,
decided before anything is rounded.
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

        self.samples = grown("samples", (rows,), np.int64)  # crops, whatever their heads gave
        self.attention = grown("attention", (rows,), np.float64)
        self.attention_samples = grown("attention_samples", (rows,), np.int64)
        self.engagement = grown("engagement", (rows,), np.float64)
        self.engagement_samples = grown("engagement_samples", (rows,), np.int64)
        self.emotion_votes = grown("emotion_votes", (rows, self.emotions), np.int64)
        self.seconds = grown("seconds", (rows, 3), np.float64)
        self.alerts = grown("alerts", (rows,), np.int64)

    def absorb(self, other: Window, sign: int = 1) -> None:
        """Add (or with sign -1, take away) another window's samples and head sums, every row
        at once. Time per state and alerts are counted on a window directly, not absorbed."""
        self.samples += sign * other.samples
        self.attention += sign * other.attention
        self.attention_samples += sign * other.attention_samples
        self.engagement += sign * other.engagement
        self.engagement_samples += sign * other.engagement_samples
        self.emotion_votes += sign * other.emotion_votes

    def clear(self, rows: int | slice = slice(None)) -> None:
        for array in (self.samples, self.attention, self.attention_samples, self.engagement,
                      self.engagement_samples, self.emotion_votes, self.seconds, self.alerts):
            array[rows] = 0


def _share(part: float, whole: float) -> float:
    return round(part / whole, 4) if whole > 0 else 0.0


def means(sums: np.ndarray, counts: np.ndarray) -> list[float | None]:
    """sums / counts rounded to 4 places; None where nothing was counted."""
    values = np.round(sums / np.maximum(counts, 1), 4).tolist()
    return [v if n else None for v, n in zip(values, counts.tolist(), strict=True)]


SHARE_UNITS = 10_000  # shares are given to 4 decimal places


def vote_shares(votes: np.ndarray) -> np.ndarray:
    """Each row's votes as shares rounded to 4 places that still sum to exactly 1 (largest
    remainders get the last units); a row without votes is all zeros."""
    votes = np.asarray(votes, np.float64)
    totals = votes.sum(axis=-1, keepdims=True)
    exact = votes * SHARE_UNITS / np.where(totals > 0, totals, 1.0)
    units = np.floor(exact)
    short = np.where(totals[..., 0] > 0, SHARE_UNITS - units.sum(axis=-1), 0).astype(np.int64)
    order = np.argsort(-(exact - units), axis=-1, kind="stable")
    ranks = np.argsort(order, axis=-1, kind="stable")
    units += ranks < short[..., None]
    return units / SHARE_UNITS


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
        seconds = window.seconds[rows]
        missing, focused, distracted = (np.round(seconds[:, i], 3).tolist() for i in range(3))
        observed = np.round(seconds[:, 1] + seconds[:, 2], 3).tolist()
        attention = means(window.attention[rows], window.attention_samples[rows])
        engagement = means(window.engagement[rows], window.engagement_samples[rows])
        alerts = window.alerts[rows].tolist()
        votes = window.emotion_votes[rows]
        voted = votes.sum(axis=1).tolist()
        dominant, mixes = np.argmax(votes, axis=1).tolist(), vote_shares(votes).tolist()
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
                event["attentionMean"] = attention[k]
                event["alerts"] = alerts[k]
            if "engagement" in self.heads:
                event["engagementMean"] = engagement[k]
            if "emotion" in self.heads and voted[k]:
                event["emotion"] = dict(zip(labels, mixes[k], strict=True))
                event["dominantEmotion"] = labels[dominant[k]]
            events.append(event)
        return events

    def classroom(self, classroom: str, students: list[Event], distracted_now: int,
                  span: tuple[str, str], emotion_votes: np.ndarray) -> Event:
        """Per class: means over the students observed in the window (each student weighs one);
        the emotion shares over every emotion sample of the class (`emotion_votes`: per label,
        summed over its students)."""
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
        if "emotion" in self.heads and emotion_votes.sum() > 0:
            shares = vote_shares(emotion_votes).tolist()
            event["emotion"] = dict(zip(self.emotion_labels, shares, strict=True))
            event["dominantEmotion"] = self.emotion_labels[int(np.argmax(emotion_votes))]
        return event

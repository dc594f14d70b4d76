"""One classroom's live picture, merged from the events of every pod that serves it (pure).

During a hand-over two pods label the same students, each complete on its own. Samples are
merged per (student, at), preferring one that is not `missing` (the new pod reports its students
missing until their first crop), so the timeline has no gap. Each pod closes its seconds at its
own phase (12.25 on one, 12.70 on the other), so samples of two pods less than half a second
apart count as the same moment. Alerts and gaps are
kept per (student, pod): the old pod clearing its alert with reason `unassigned` does not clear
the new pod's. Events are applied idempotently, so a replay after a reconnect
(`Last-Event-ID`) that repeats an event changes nothing.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Event = Mapping[str, Any]
WINDOW_SECONDS = 300.0
HEALTH_ORDER = ("Healthy", "Connecting", "Failed", "Unassigned")
SAME_MOMENT_SECONDS = 0.5


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Sample:
    at: float
    state: str  # focused | distracted | missing | present
    attention: float | None
    pod: str


@dataclass
class RoomTimeline:
    window_seconds: float = WINDOW_SECONDS
    samples: dict[str, dict[float, Sample]] = field(default_factory=dict)  # student -> at ->
    alerts: dict[tuple[str, str], Event] = field(default_factory=dict)  # (student, pod) ->
    gaps: dict[tuple[str, str], Event] = field(default_factory=dict)  # (student, pod) ->
    summary: Event | None = None
    health: dict[str, Sequence[Event]] = field(default_factory=dict)  # pod -> its streams
    newest: float = 0.0

    def add(self, pod: str, event: Event) -> None:
        kind = event.get("type")
        student = str(event.get("student", ""))
        if kind == "series":
            self._sample(pod, event)
        elif kind == "alert":
            self.alerts[(student, pod)] = event
        elif kind == "alert-cleared":
            self.alerts.pop((student, pod), None)
        elif kind == "gap-started":
            self.gaps[(student, pod)] = event
        elif kind == "gap-ended":
            self.gaps.pop((student, pod), None)
        elif kind == "class-summary" and (
                self.summary is None or str(event.get("to")) >= str(self.summary.get("to"))):
            self.summary = event

    def _sample(self, pod: str, event: Event) -> None:
        at = parse_time(str(event["at"]))
        sample = Sample(at, str(event.get("state")), event.get("attention"), pod)
        series = self.samples.setdefault(str(event["student"]), {})
        held = self._same_moment(series, sample)
        if held is None:
            series[at] = sample
        elif held.state == "missing" and sample.state != "missing":
            del series[held.at]
            series[at] = sample
        if at > self.newest:
            self.newest = at
            self._forget_before(at - self.window_seconds)

    @staticmethod
    def _same_moment(series: dict[float, Sample], sample: Sample) -> Sample | None:
        """The held sample of the same moment: the same pod's at that very time (a replay), or
        another pod's less than SAME_MOMENT_SECONDS away."""
        if sample.at in series:
            return series[sample.at]
        times = sorted(series)  # a few hundred at most (the window)
        index = bisect.bisect_left(times, sample.at)
        for near in times[max(0, index - 1):index + 1]:
            held = series[near]
            if held.pod != sample.pod and abs(near - sample.at) < SAME_MOMENT_SECONDS:
                return held
        return None

    def _forget_before(self, oldest: float) -> None:
        for student in list(self.samples):
            series = self.samples[student]
            for at in [at for at in series if at < oldest]:
                del series[at]
            if not series:
                del self.samples[student]

    def forget_pod(self, pod: str) -> None:
        """A pod that serves the room no more: its open alerts and gaps go with it (its samples
        stay: they happened)."""
        for table in (self.alerts, self.gaps):
            for key in [key for key in table if key[1] == pod]:
                del table[key]
        self.health.pop(pod, None)

    def set_health(self, pod: str, streams: Sequence[Event]) -> None:
        self.health[pod] = streams

    def streams(self) -> list[dict[str, Any]]:
        """Each stream once: Healthy when any pod serving the room has it Healthy."""
        best: dict[str, dict[str, Any]] = {}
        for pod, streams in sorted(self.health.items()):
            for stream in streams:
                state = str(stream.get("state"))
                seen = best.get(str(stream.get("id")))
                rank = HEALTH_ORDER.index(state) if state in HEALTH_ORDER else len(HEALTH_ORDER)
                if seen is None or rank < seen["rank"]:
                    best[str(stream.get("id"))] = {
                        "id": stream.get("id"), "state": state, "fps": stream.get("fps"),
                        "error": stream.get("error"), "pod": pod, "rank": rank}
        return [{k: v for k, v in s.items() if k != "rank"}
                for _, s in sorted(best.items())]

    def snapshot(self, now: float, seconds: float = 120.0) -> dict[str, Any]:
        """What the page shows: per student the last `seconds` of samples, the open alert and
        gap; the room's open alerts with their age, the latest class summary, stream health."""
        since = max(self.newest, now) - seconds
        students = []
        for student in sorted(self.samples.keys() | {s for s, _ in self.alerts}):
            series = self.samples.get(student, {})
            recent = [series[at] for at in sorted(series) if at >= since]
            alert = self._open_alert(student)
            gap = next((g for (s, _), g in sorted(self.gaps.items()) if s == student), None)
            students.append({
                "student": student,
                "state": recent[-1].state if recent else "missing",
                "attention": recent[-1].attention if recent else None,
                "samples": [[round(s.at, 3), s.state, s.attention] for s in recent],
                "alert": alert and _alert_view(alert, now),
                "gap": gap and {"reason": gap.get("reason"), "from": gap.get("from")},
            })
        alerts = [_alert_view(a, now) for a in
                  (self._open_alert(s) for s in sorted({s for s, _ in self.alerts})) if a]
        return {"students": students, "alerts": alerts, "summary": self.summary,
                "streams": self.streams(), "pods": sorted(self.health),
                "newest": self.newest or None}

    def _open_alert(self, student: str) -> Event | None:
        """The student's open alert that began first, whichever pod raised it."""
        open_alerts = [a for (s, _), a in self.alerts.items() if s == student]
        return min(open_alerts, key=lambda a: str(a.get("since")), default=None)


def _alert_view(alert: Event, now: float) -> dict[str, Any]:
    since = str(alert.get("since") or alert.get("at"))
    return {"student": alert.get("student"), "alert": alert.get("alert"), "since": since,
            "ageSeconds": max(0.0, round(now - parse_time(since), 1)),
            "attention": alert.get("attention")}

"""Per-student analysis: engine heads in, smoothed states, alerts, time series and summaries out.

Every student (stream, seat) is a row of numpy arrays, and its row is its id (students.py), the
number its crops carry through the batcher. So a batch of a few hundred crops from as many
students is updated with a handful of vector operations, with no Python loop per crop.

- Smoothing: an exponential moving average by time (time constant smoothingSeconds), so irregular
  frame rates and dropped crops weigh samples by the time they cover, not by their count.
- State: focused / distracted with hysteresis of +-HYSTERESIS around attentionThreshold, so a
  smoothed attention hovering at the threshold does not flap.
- Alert: after distractedAfterSeconds continuously distracted; one alert per episode, and an
  `alert-cleared` when the episode ends.
- Gaps: a student unseen for more than GAP_SECONDS (a stream that failed, stalled or was starved)
  is *missing*: the time series marks it, and missing time is never counted as distraction. A gap
  *resets* the distraction timer and the smoothing instead of pausing them: "distracted for 30 s
  continuously" must have been observed continuously, and joining 20 s before a camera outage to
  10 s after it would alert about a moment nobody saw.
- Heads: only those the engine has. Without an attention head the state is just present/missing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np

from classroom_inference.serving.assignment import AnalysisSettings
from classroom_inference.serving.students import StudentIds
from classroom_inference.serving.summaries import Event, SummaryWriter, Window, means

GAP_SECONDS = 1.0
HYSTERESIS = 0.05
SERIES_EVERY_SECONDS = 1.0
# A room camera's seat unseen this long has left the room; per-student streams are never forgotten.
FORGET_SEAT_SECONDS = 300.0

MISSING, FOCUSED, DISTRACTED = 0, 1, 2
STATE_NAMES = ("missing", "focused", "distracted")
PRESENT_NAMES = ("missing", "present")


def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def _finite(value: float) -> float | None:
    """Rounded to 4 places; None for NaN or infinity, which JSON cannot carry."""
    return round(value, 4) if math.isfinite(value) else None


@dataclass(frozen=True)
class Student:
    """What is not numeric about a row: who (pseudonymous) and where."""

    student: str
    classroom: str
    stream_id: str
    seat: str
    forgettable: bool


class Analysis:
    """Turns batches of engine outputs into events, handed one by one to `emit`.

    Times are time.monotonic() seconds; `wall_offset` turns them into wall-clock time for output.
    """

    def __init__(
        self,
        settings: AnalysisSettings,
        heads: Sequence[str],
        emotion_labels: Sequence[str],
        emit: Callable[[Event], None],
        pseudonym: Callable[[str, str, str], str],
        *,
        now: float,
        wall_offset: float,
        students: StudentIds | None = None,
    ) -> None:
        self.settings = settings
        self.heads = tuple(heads)
        self.has_attention = "attention" in self.heads
        labels = tuple(emotion_labels)
        if "emotion" in self.heads and not labels:
            raise ValueError("an engine with an emotion head needs its emotionLabels")
        self._writer = SummaryWriter(self.heads, labels)
        self._emit = emit
        self._pseudonym = pseudonym
        self._wall_offset = wall_offset
        self.ids = students or StudentIds()
        self._students: list[Student | None] = []  # by row; None: not followed
        self._followed = np.zeros(0, bool)
        self._forgettable = np.zeros(0, bool)  # room seats, forgotten after a long absence
        self._position = np.zeros(0, np.int64)  # scratch: a row's last position in a batch
        self._rows: dict[tuple[str, str], int] = {}
        self._streams: dict[str, tuple[str, str]] = {}  # stream id -> (classroom, layout)
        self._state = np.zeros(0, np.int8)
        self._ema = np.zeros(0)
        self._last = np.zeros(0)  # the last sample's time
        self._accounted = np.zeros(0)  # time up to which `seconds` per state were counted
        self._since = np.zeros(0)  # start of the current distraction episode
        self._missing_since = np.zeros(0)  # NaN: never seen yet, so no gap to report
        self._alerted = np.zeros(0, bool)
        self.series = Window(max(len(labels), 1))
        self.summary = Window(max(len(labels), 1))
        self._series_from = now
        self._summary_from = now

    def wall(self, monotonic: float) -> str:
        return iso(monotonic + self._wall_offset)

    @property
    def students(self) -> dict[tuple[str, str], str]:
        """(stream id, seat) -> pseudonymous id, for every student followed now."""
        return {key: self._student(row).student for key, row in self._rows.items()}

    def state(self, stream_id: str, seat: str = "0") -> str:
        names = STATE_NAMES if self.has_attention else PRESENT_NAMES
        return names[int(self._state[self._rows[(stream_id, seat)]])]

    # --- streams and students -------------------------------------------------------------

    def add_stream(self, stream_id: str, classroom: str, layout: str, now: float) -> None:
        self._streams[stream_id] = (classroom, layout)
        if layout == "per-student":  # its one student is missing until the first crop
            self._follow(self.ids.of(stream_id, "0"), now)

    def remove_stream(self, stream_id: str, now: float) -> None:
        """The stream is no longer assigned here and none of its crops is still on its way:
        close its students' episodes and forget them (their ids may be handed out again)."""
        self._streams.pop(stream_id, None)
        self._forget(self._stream_rows(stream_id), now, "unassigned")
        for student in self.ids.of_stream(stream_id):  # seats whose crops were all dropped
            self.ids.release(student)

    def stream_lost(self, stream_id: str, now: float) -> None:
        """Ingest reports the stream failed: its students are missing from their last sample on."""
        rows = self._stream_rows(stream_id)
        rows = rows[self._state[rows] != MISSING]
        self._enter_missing(rows, self._last[rows], "stream-failed")

    def _stream_rows(self, stream_id: str) -> np.ndarray:
        return np.array([r for (s, _), r in self._rows.items() if s == stream_id], np.int64)

    def _student(self, row: int) -> Student:
        student = self._students[row]
        if student is None:
            raise KeyError(f"row {row} holds no student")
        return student

    def _follow(self, row: int, now: float) -> None:
        """Start following the student whose id is `row`."""
        if row < len(self._students) and self._followed[row]:
            return
        key = self.ids.key(row)
        assert key is not None, f"student id {row} is not in use"
        stream_id, seat = key
        classroom, layout = self._streams[stream_id]
        if row >= len(self._students):
            self._grow(row + 1)
        self._rows[key] = row
        self._followed[row] = True
        self._forgettable[row] = layout == "room"
        self._students[row] = Student(
            student=self._pseudonym(classroom, stream_id, seat), classroom=classroom,
            stream_id=stream_id, seat=seat, forgettable=layout == "room",
        )
        self._state[row] = MISSING
        self._accounted[row] = now
        self._ema[row] = self._last[row] = self._since[row] = math.nan
        self._missing_since[row] = math.nan
        self._alerted[row] = False
        self.series.clear(row)
        self.summary.clear(row)

    def _grow(self, wanted: int) -> None:
        old = len(self._students)
        size = max(16, old * 2, wanted)

        def grown(array: np.ndarray) -> np.ndarray:
            new = np.zeros(size, dtype=array.dtype)
            new[:old] = array
            return new

        self._state, self._ema, self._last = grown(self._state), grown(self._ema), grown(self._last)
        self._accounted, self._since = grown(self._accounted), grown(self._since)
        self._missing_since, self._alerted = grown(self._missing_since), grown(self._alerted)
        self._followed = grown(self._followed)
        self._forgettable = grown(self._forgettable)
        self._position = grown(self._position)
        self.series.resize(size)
        self.summary.resize(size)
        self._students.extend([None] * (size - old))

    def _forget(self, rows: np.ndarray, now: float, reason: str) -> None:
        self._account(rows, now)
        alerted = rows[self._alerted[rows]]
        self._clear_alerts(alerted, np.full(alerted.shape, now), reason)
        for row in rows.tolist():
            student = self._student(row)
            del self._rows[(student.stream_id, student.seat)]
            self._students[row] = None
            self._followed[row] = False
            self.ids.release(row)

    # --- samples --------------------------------------------------------------------------

    def observe(self, students: np.ndarray, times: np.ndarray,
                outputs: dict[str, np.ndarray]) -> None:
        """One batch: students[i] is the id of crop i's student, times[i] its arrival.

        A room seat's first crop starts following it; crops of streams no longer assigned
        (drained after removal) are ignored.
        """
        rows = np.asarray(students, np.int64)
        known = rows < len(self._followed)
        known[known] = self._followed[rows[known]]
        if not known.all():
            for k in np.flatnonzero(~known).tolist():
                key = self.ids.key(int(rows[k]))
                if key is not None and key[0] in self._streams:
                    self._follow(int(rows[k]), float(times[k]))
                    known[k] = True
            rows, times = rows[known], times[known]
            outputs = {h: v[known] for h, v in outputs.items()}
        if not self._repeats(rows):  # the usual case: one round
            self._update(rows, times.astype(np.float64), outputs)
            return
        # A student seen twice in one batch (a lagging stream) is updated in order, in rounds.
        positions = np.arange(rows.size)
        while positions.size:
            _, first = np.unique(rows[positions], return_index=True)
            first.sort()
            take = positions[first]
            self._update(rows[take], times[take].astype(np.float64),
                         {h: v[take] for h, v in outputs.items()})
            positions = np.delete(positions, first)

    def _repeats(self, rows: np.ndarray) -> bool:
        """Whether a row occurs twice. Two indexing steps instead of np.unique's sort or hash,
        which for a batch costs more and lets go of the GIL (a wait to get it back in a busy
        pod)."""
        positions = np.arange(rows.size)
        self._position[rows] = positions
        return bool((self._position[rows] != positions).any())

    def _update(self, rows: np.ndarray, t: np.ndarray, out: dict[str, np.ndarray]) -> None:
        # The common batch (every student seen a moment ago, most keeping their state) costs a
        # few vector operations; gaps, state changes and alerts are worked out only for the
        # students they concern. Time per state is counted when a state ends (and when a
        # summary closes), not at every sample.
        last = self._last[rows]
        previous = self._state[rows]
        t = np.fmax(t, last)  # fmax ignores NaN: a student's clock never runs backwards
        late = (previous != MISSING) & (t - last > GAP_SECONDS)
        if late.any():  # a gap the ticker has not seen yet
            self._enter_missing(rows[late], last[late], "no-frames")
            previous = self._state[rows]
        resumed = previous == MISSING
        back: np.ndarray | None = None
        if resumed.any():
            back = rows[resumed]
            self._account(back, t[resumed])  # the gap, counted as missing
            ending = ~np.isnan(self._missing_since[back])
            self._end_gaps(back[ending], t[resumed][ending])
            self._missing_since[back] = math.nan
        self._last[rows] = t
        window = self.series  # the summary takes each closed second in (_close_series)
        window.samples[rows] += 1
        # A head's NaN or infinity is a missing sample of that head: counted nowhere, emitted
        # nowhere, and never let into the smoothing, whose every later value it would poison.
        if "emotion" in out:
            scores = out["emotion"]
            valid = np.isfinite(scores).all(axis=1)
            voters = rows if valid.all() else rows[valid]
            # rows are distinct within one update (observe), so += counts each once
            window.emotion_votes[voters, np.argmax(scores[valid], axis=1)] += 1
        if "engagement" in out:
            engagement = out["engagement"][:, 0]
            valid = np.isfinite(engagement)
            window.engagement[rows[valid]] += engagement[valid]
            window.engagement_samples[rows[valid]] += 1
        if not self.has_attention:
            if back is not None:
                self._state[back] = FOCUSED  # "present"
            return
        attention = out["attention"][:, 0].astype(np.float64)
        valid = np.isfinite(attention)
        if not valid.all():
            rows, t, last, attention, previous = (
                a[valid] for a in (rows, t, last, attention, previous))
            if back is not None:
                resumed = resumed[valid]
        window.attention[rows] += attention
        window.attention_samples[rows] += 1
        self._step_attention(rows, t, t - last, attention, previous,
                             resumed if back is not None else None)

    def _step_attention(self, rows: np.ndarray, t: np.ndarray, dt: np.ndarray, x: np.ndarray,
                        previous: np.ndarray, resumed: np.ndarray | None) -> None:
        s = self.settings
        tau = s.smoothing_seconds
        alpha = np.ones_like(x) if tau <= 0 else -np.expm1(-dt / tau)
        ema = self._ema[rows]
        ema = ema + alpha * (x - ema)
        low, high = s.attention_threshold - HYSTERESIS, s.attention_threshold + HYSTERESIS
        state = np.where(ema < low, DISTRACTED, np.where(ema > high, FOCUSED, previous))
        if resumed is not None:  # back from a gap: no history to smooth, no hysteresis
            ema = np.where(resumed, x, ema)
            fresh = np.where(x < s.attention_threshold, DISTRACTED, FOCUSED)
            state = np.where(resumed, fresh, state)
        self._ema[rows] = ema
        changed = state != previous
        if changed.any():
            moved, at, before, after = rows[changed], t[changed], previous[changed], state[changed]
            self._account(moved, at)  # the time in the state they leave
            self._state[moved] = after
            started = (after == DISTRACTED) & (before != DISTRACTED)
            self._since[moved[started]] = at[started]
            ended = (after != DISTRACTED) & (before == DISTRACTED)
            cleared = ended & self._alerted[moved]
            self._clear_alerts(moved[cleared], at[cleared], "focused")
            self._since[moved[ended]] = math.nan
        distracted = state == DISTRACTED
        if not distracted.any():
            return
        watched, at = rows[distracted], t[distracted]
        due = ~self._alerted[watched] & (at - self._since[watched] >= s.distracted_after_seconds)
        for row, when in zip(watched[due].tolist(), at[due].tolist(), strict=True):
            self._alerted[row] = True
            self.summary.alerts[row] += 1
            student = self._student(row)
            since = float(self._since[row])
            self._emit({
                "type": "alert", "alert": "distracted", "classroom": student.classroom,
                "student": student.student, "at": self.wall(when), "since": self.wall(since),
                "seconds": round(when - since, 3), "attention": _finite(float(self._ema[row])),
            })

    # --- time accounting, gaps, alerts ------------------------------------------------------

    def _account(self, rows: np.ndarray, until: np.ndarray | float) -> None:
        """Count [accounted, until) as time in the state each student is in now."""
        start = self._accounted[rows]
        self.summary.seconds[rows, self._state[rows]] += np.maximum(until - start, 0.0)
        self._accounted[rows] = np.fmax(start, until)

    def _enter_missing(self, rows: np.ndarray, since: np.ndarray, reason: str) -> None:
        if rows.size == 0:
            return
        self._account(rows, since)
        alerted = self._alerted[rows]
        self._clear_alerts(rows[alerted], since[alerted], "missing")
        self._state[rows] = MISSING
        self._ema[rows] = self._since[rows] = math.nan
        self._missing_since[rows] = since
        for row, start in zip(rows.tolist(), since.tolist(), strict=True):
            student = self._student(row)
            self._emit({"type": "gap-started", "classroom": student.classroom,
                        "student": student.student, "from": self.wall(start), "reason": reason})

    def _end_gaps(self, rows: np.ndarray, at: np.ndarray) -> None:
        for row, end in zip(rows.tolist(), at.tolist(), strict=True):
            student = self._student(row)
            start = float(self._missing_since[row])
            self._emit({"type": "gap-ended", "classroom": student.classroom,
                        "student": student.student, "from": self.wall(start),
                        "to": self.wall(end), "seconds": round(end - start, 3)})

    def _clear_alerts(self, rows: np.ndarray, at: np.ndarray, reason: str) -> None:
        for row, end in zip(rows.tolist(), at.tolist(), strict=True):
            student = self._student(row)
            self._alerted[row] = False
            self._emit({"type": "alert-cleared", "alert": "distracted",
                        "classroom": student.classroom, "student": student.student,
                        "at": self.wall(end), "reason": reason})

    # --- the clock ------------------------------------------------------------------------

    def _live_rows(self) -> np.ndarray:
        return np.flatnonzero(self._followed)

    def tick(self, now: float) -> None:
        """Called a few times a second: finds gaps, closes series points and summaries when due."""
        rows = self._live_rows()
        quiet = rows[(self._state[rows] != MISSING) & (now - self._last[rows] > GAP_SECONDS)]
        self._enter_missing(quiet, self._last[quiet], "no-frames")
        if now - self._series_from >= SERIES_EVERY_SECONDS:
            self._close_series(now)
        if now - self._summary_from >= self.settings.summary_every_seconds:
            self._close_summary(now)
        # NaN (never seen) compares False: a seat not seen yet is not forgotten.
        away = now - self._missing_since[rows] > FORGET_SEAT_SECONDS
        gone = rows[self._forgettable[rows] & away]
        self._forget(gone, now, "left")

    def finish(self, now: float) -> None:
        """Drain: close the open series point and summary window so nothing observed is lost."""
        if now > self._series_from:
            self._close_series(now)
        if now > self._summary_from:
            self._close_summary(now)

    def _close_series(self, now: float) -> None:
        w = self.series
        at = self.wall(now)
        names = STATE_NAMES if self.has_attention else PRESENT_NAMES
        rows = self._live_rows()
        # Every number of every point at once; the loop below only assembles events.
        samples = w.samples[rows]
        state = np.where(samples > 0, self._state[rows], MISSING).tolist()
        attention = [_finite(v) for v in self._ema[rows].tolist()]
        engagement = means(w.engagement[rows], w.engagement_samples[rows])
        votes = w.emotion_votes[rows]
        voted = votes.sum(axis=1).tolist()
        emotion = np.argmax(votes, axis=1).tolist()
        labels = self._writer.emotion_labels
        with_engagement, with_emotion = "engagement" in self.heads, "emotion" in self.heads
        for k, (row, n) in enumerate(zip(rows.tolist(), samples.tolist(), strict=True)):
            student = self._student(row)
            point: Event = {"type": "series", "classroom": student.classroom,
                            "student": student.student, "at": at, "samples": n,
                            "state": names[state[k]]}
            if self.has_attention:
                point["attention"] = attention[k] if n else None
            if with_engagement and engagement[k] is not None:
                point["engagement"] = engagement[k]
            if with_emotion and voted[k]:
                point["emotion"] = labels[emotion[k]]
            self._emit(point)
        self.summary.absorb(w)
        w.clear()
        self._series_from = now

    def _close_summary(self, now: float) -> None:
        rows = self._live_rows()
        self._account(rows, now)
        self.summary.absorb(self.series)  # the second still open counts in this summary
        span = (self.wall(self._summary_from), self.wall(now))
        per_room: dict[str, list[Event]] = defaultdict(list)
        room_rows: dict[str, list[int]] = defaultdict(list)
        distracted: dict[str, int] = defaultdict(int)
        students = [self._student(row) for row in rows.tolist()]
        events = self._writer.students(self.summary, rows,
                                       [(s.classroom, s.student) for s in students], span)
        now_distracted = (self._state[rows] == DISTRACTED).tolist()
        for row, student, event, is_distracted in zip(rows.tolist(), students, events,
                                                      now_distracted, strict=True):
            per_room[student.classroom].append(event)
            room_rows[student.classroom].append(row)
            distracted[student.classroom] += is_distracted
            self._emit(event)
        for classroom, events in per_room.items():
            votes = self.summary.emotion_votes[room_rows[classroom]].sum(axis=0)
            self._emit(self._writer.classroom(classroom, events, distracted[classroom], span,
                                              votes))
        self.summary.clear()
        self.summary.absorb(self.series, -1)  # ...and not again when it closes
        self._summary_from = now

from __future__ import annotations

from typing import Any


def test_a_gap_resets_the_distraction_timer(recorder: Any) -> None:
    """20 s distracted, a 5 s outage, 20 s distracted: never 30 s observed continuously."""
    r = recorder(smoothing_seconds=0.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    t = r.feed("s0", 0.0, 20.0, 30, 0.1)
    r.idle(t, 25.0)
    r.feed("s0", 25.0, 45.0, 30, 0.1)
    r.analysis.finish(45.0)
    assert r.of("alert") == []
    started, ended = r.of("gap-started"), r.of("gap-ended")
    assert len(started) == 1 and len(ended) == 1
    assert started[0]["reason"] == "no-frames"
    assert started[0]["from"].startswith("2027-01-15T08:00:19.9")
    assert 5.0 <= ended[0]["seconds"] < 5.1
    missing_points = [p for p in r.of("series") if p["state"] == "missing"]
    assert 4 <= len(missing_points) <= 5
    assert all(p["attention"] is None for p in missing_points)
    summary = r.of("student-summary")[0]
    assert 4.9 < summary["seconds"]["missing"] < 5.2
    assert 39.8 < summary["seconds"]["distracted"] < 40.1
    assert summary["seconds"]["focused"] == 0


def test_an_alerted_episode_is_cleared_by_a_gap(recorder: Any) -> None:
    r = recorder(smoothing_seconds=0.0, distracted_after_seconds=5.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    t = r.feed("s0", 0.0, 6.0, 30, 0.1)
    assert len(r.of("alert")) == 1
    r.idle(t, 9.0)
    assert [c["reason"] for c in r.of("alert-cleared")] == ["missing"]
    # distraction after the gap starts a new timer: another alert only 5 s later
    t = r.feed("s0", 9.0, 13.9, 30, 0.1)
    assert len(r.of("alert")) == 1
    r.feed("s0", t, 14.2, 30, 0.1)
    assert len(r.of("alert")) == 2


def test_a_failed_stream_is_missing_at_once_and_never_alerts(recorder: Any) -> None:
    r = recorder(smoothing_seconds=0.0, distracted_after_seconds=3.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.analysis.add_stream("s1", "room-101", "per-student", 0.0)
    r.feed("s0", 0.0, 2.0, 30, 0.9)
    r.analysis.stream_lost("s0", 2.0)
    assert r.analysis.state("s0") == "missing"
    assert r.of("gap-started")[0]["reason"] == "stream-failed"
    r.idle(2.0, 20.0)
    r.analysis.finish(20.0)
    assert r.of("alert") == []
    # s1 never delivered a frame: missing throughout, no gap events (nothing was lost)
    s1 = r.analysis.students[("s1", "0")]
    s1_points = [p for p in r.of("series") if p["student"] == s1]
    assert len(s1_points) >= 19 and all(p["state"] == "missing" for p in s1_points)
    assert all(e["student"] != s1 for e in r.of("gap-started"))
    summary = next(e for e in r.of("student-summary") if e["student"] == s1)
    assert summary["seconds"]["missing"] == 20.0 and summary["seconds"]["distracted"] == 0


def test_removed_stream_clears_its_alert_and_ignores_late_crops(recorder: Any) -> None:
    r = recorder(smoothing_seconds=0.0, distracted_after_seconds=1.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    t = r.feed("s0", 0.0, 2.0, 30, 0.1)
    r.analysis.remove_stream("s0", t)
    assert [c["reason"] for c in r.of("alert-cleared")] == ["unassigned"]
    before = len(r.events)
    r.feed("s0", t, t + 1.0, 30, 0.1)  # crops still in flight when it was removed
    assert len(r.events) == before
    assert r.analysis.students == {}


def test_room_seats_that_left_are_forgotten(recorder: Any) -> None:
    r = recorder()
    r.analysis.add_stream("cam", "room-101", "room", 0.0)
    assert r.analysis.students == {}  # seats appear with the tracker's crops
    r.feed("cam", 0.0, 1.0, 10, 0.9, seat="3")
    assert set(r.analysis.students) == {("cam", "3")}
    r.idle(1.0, 400.0, step=5.0)
    assert r.analysis.students == {}


def test_a_room_seat_long_unseen_is_forgotten_a_student_stream_never(recorder: Any) -> None:
    from classroom_inference.serving.analysis import FORGET_SEAT_SECONDS

    r = recorder(smoothing_seconds=0.0)
    r.analysis.add_stream("cam", "room-101", "room", 0.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.feed("cam", 0.0, 1.0, 30, 0.9, seat="3")
    r.feed("s0", 0.0, 1.0, 30, 0.9)
    seat = r.analysis.ids.of("cam", "3")
    r.idle(1.0, 1.0 + FORGET_SEAT_SECONDS - 1.0, step=5.0)
    assert set(r.analysis.students) == {("cam", "3"), ("s0", "0")}  # away, not yet gone
    r.idle(1.0 + FORGET_SEAT_SECONDS - 1.0, 1.0 + FORGET_SEAT_SECONDS + 5.0, step=1.0)
    assert set(r.analysis.students) == {("s0", "0")}
    assert r.analysis.ids.key(seat) is None  # its id is free for another seat

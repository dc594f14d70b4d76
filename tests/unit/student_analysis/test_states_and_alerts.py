from __future__ import annotations

from typing import Any

import numpy as np
from classroom_inference.serving.analysis import HYSTERESIS


def test_focused_student_raises_no_alert(recorder: Any) -> None:
    r = recorder()
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.feed("s0", 0.0, 40.0, 30, 0.9)
    assert r.of("alert") == []
    assert r.analysis.state("s0") == "focused"
    points = r.of("series")
    assert len(points) >= 38
    assert all(p["state"] == "focused" for p in points[1:])


def test_one_alert_after_distracted_after_seconds_not_before(recorder: Any) -> None:
    r = recorder(smoothing_seconds=0.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.feed("s0", 0.0, 5.0, 30, 0.9)
    t = r.feed("s0", 5.0, 34.9, 30, 0.1)  # 29.9 s distracted
    assert r.of("alert") == []
    r.feed("s0", t, 60.0, 30, 0.1)
    alerts = r.of("alert")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert["seconds"] >= 30.0 and alert["seconds"] < 30.1
    assert alert["since"] == "2027-01-15T08:00:05.000Z"
    assert alert["student"].startswith("stu_") and alert["classroom"] == "room-101"
    # focus comes back: the episode ends once
    r.feed("s0", 60.0, 62.0, 30, 0.9)
    cleared = r.of("alert-cleared")
    assert [c["reason"] for c in cleared] == ["focused"]


def test_hysteresis_keeps_state_near_threshold(recorder: Any) -> None:
    r = recorder(smoothing_seconds=0.0, distracted_after_seconds=1.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.feed("s0", 0.0, 1.0, 30, 0.9)
    wobble = 0.5 - HYSTERESIS / 2
    r.feed("s0", 1.0, 10.0, 30, lambda t: wobble if int(t * 30) % 2 else 0.5 + HYSTERESIS / 2)
    assert r.analysis.state("s0") == "focused"
    assert r.of("alert") == []
    r.feed("s0", 10.0, 12.5, 30, 0.5 - 2 * HYSTERESIS)
    assert r.analysis.state("s0") == "distracted"
    assert len(r.of("alert")) == 1


def test_smoothing_is_by_time_not_by_frame_count(recorder: Any) -> None:
    """The same step in attention seen at 10 and at 30 fps gives the same smoothed value."""
    values = []
    for fps in (10, 30):
        r = recorder(smoothing_seconds=2.0)
        r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
        r.feed("s0", 0.0, 3.0, fps, 1.0)
        r.feed("s0", 3.0, 5.0 + 1e-6, fps, 0.0)
        r.analysis.finish(5.0)
        values.append(r.of("series")[-1]["attention"])
    expected = float(np.exp(-2.0 / 2.0))  # 2 s of zeros after ones, time constant 2 s
    assert abs(values[0] - expected) < 0.02 and abs(values[1] - expected) < 0.02


def test_a_student_twice_in_one_batch_is_updated_in_order(recorder: Any) -> None:
    one, two = recorder(smoothing_seconds=0.3), recorder(smoothing_seconds=0.3)
    for r in (one, two):
        r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
        r.analysis.add_stream("s1", "room-101", "per-student", 0.0)
    times = np.array([0.0, 0.0, 0.5, 0.9])
    keys = [("s0", "0"), ("s1", "0"), ("s0", "0"), ("s0", "0")]
    att = [0.9, 0.8, 0.2, 0.1]
    one.analysis.observe(one.ids(keys), times, one.outputs(att))
    for i in range(4):
        two.analysis.observe(two.ids([keys[i]]), times[i : i + 1], two.outputs([att[i]]))
    one.analysis.tick(0.95)
    two.analysis.tick(0.95)
    one.analysis.finish(1.0)
    two.analysis.finish(1.0)
    assert [e for e in one.events] == [e for e in two.events]
    assert one.analysis.state("s0") == "distracted"

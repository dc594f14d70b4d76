from __future__ import annotations

from typing import Any

import numpy as np


def test_emotion_only_engine(recorder: Any) -> None:
    r = recorder(heads=("emotion",), summary_every_seconds=10.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.feed("s0", 0.0, 10.5, 30, 0.0)
    summary = r.of("student-summary")[0]
    assert summary["dominantEmotion"] == "happy"
    # every sample ranked happy first: its share is all of them
    assert summary["emotion"] == {"neutral": 0.0, "happy": 1.0, "sad": 0.0}
    assert "attentionMean" not in summary and "alerts" not in summary
    assert {p["state"] for p in r.of("series")[1:]} == {"present"}
    assert all("attention" not in p for p in r.of("series"))
    room = r.of("class-summary")[0]
    assert room["dominantEmotion"] == "happy" and "attentionMean" not in room


def test_summaries_per_student_and_class(recorder: Any) -> None:
    r = recorder(summary_every_seconds=10.0, smoothing_seconds=0.0,
                 distracted_after_seconds=4.0)
    for i in range(3):
        r.analysis.add_stream(f"s{i}", "room-101", "per-student", 0.0)
    r.analysis.add_stream("t0", "room-102", "per-student", 0.0)
    t = 0.0
    while t < 10.05:
        keys = [("s0", "0"), ("s1", "0"), ("t0", "0")]
        r.analysis.observe(r.ids(keys), np.full(3, t), r.outputs([0.9, 0.1, 0.7]))
        r.analysis.tick(t)
        t = round(t + 0.1, 6)
    students = r.of("student-summary")
    assert len(students) == 4
    by_student = {e["student"]: e for e in students}
    ids = r.analysis.students
    s0, s1, s2 = (by_student[ids[(f"s{i}", "0")]] for i in range(3))
    assert s0["attentionMean"] == 0.9 and s0["seconds"]["focused"] > 9.5
    assert s1["alerts"] == 1 and s1["seconds"]["distracted"] > 9.5
    assert s2["samples"] == 0 and s2["attentionMean"] is None and s2["seconds"]["missing"] == 10
    assert s0["engagementMean"] == 0.7
    rooms = {e["classroom"]: e for e in r.of("class-summary")}
    assert set(rooms) == {"room-101", "room-102"}
    r101 = rooms["room-101"]
    assert r101["students"] == 3 and r101["studentsObserved"] == 2
    assert r101["attentionMean"] == 0.5 and r101["distractedNow"] == 1 and r101["alerts"] == 1
    assert 0.45 < r101["focusedShare"] < 0.55
    assert rooms["room-102"]["attentionMean"] == 0.7
    # the window restarts: the next summary covers only what came after
    assert r.of("student-summary")[0]["from"] == "2027-01-15T08:00:00.000Z"


def test_finish_flushes_the_open_window(recorder: Any) -> None:
    r = recorder()
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.feed("s0", 0.0, 3.0, 30, 0.9)
    assert r.of("student-summary") == []
    r.analysis.finish(3.0)
    summary = r.of("student-summary")[0]
    assert summary["samples"] == 90
    assert summary["to"] == "2027-01-15T08:00:03.000Z"

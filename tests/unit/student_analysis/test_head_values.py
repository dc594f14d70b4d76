"""Summaries stay meaningful whatever the heads give: logits, near-ties, NaN and infinity."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
from classroom_inference.serving import summaries

SPAN = ("2027-01-15T08:00:00.000Z", "2027-01-15T08:01:00.000Z")


def _observe(r: Any, streams: list[str], t: float, attention: list[float],
             emotion: list[list[float]], engagement: list[float]) -> None:
    n = len(streams)
    r.analysis.observe(r.ids([(s, "0") for s in streams]), np.full(n, t), {
        "attention": np.array(attention, np.float32).reshape(n, 1),
        "emotion": np.array(emotion, np.float32),
        "engagement": np.array(engagement, np.float32).reshape(n, 1),
    })
    r.analysis.tick(t)


def test_emotion_logits_give_shares_of_samples(recorder: Any) -> None:
    """An emotion head giving logits (not probabilities): shares are the fraction of samples
    whose top emotion is each label, in [0, 1] and summing to 1 over the labels."""
    r = recorder(summary_every_seconds=10.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    r.analysis.add_stream("s1", "room-101", "per-student", 0.0)
    happy_logits = [-3.0, 737.5, -1.0]  # neutral, happy, sad
    sad_logits = [-2.0, -40.0, 12.0]
    t = 0.0
    for k in range(105):  # s0: 3 of every 4 samples happy; s1: always sad
        t = k * 0.1
        _observe(r, ["s0", "s1"], t, [0.9, 0.9],
                 [sad_logits if k % 4 == 3 else happy_logits, sad_logits], [0.7, 0.7])
    ids = r.analysis.students
    by_student = {e["student"]: e for e in r.of("student-summary")}
    s0, s1 = by_student[ids[("s0", "0")]], by_student[ids[("s1", "0")]]
    for summary in (s0, s1, r.of("class-summary")[0]):
        shares = summary["emotion"]
        assert set(shares) == {"neutral", "happy", "sad"}
        assert all(0.0 <= v <= 1.0 for v in shares.values()), shares
        assert math.isclose(sum(shares.values()), 1.0, abs_tol=1e-9), shares
    samples = s0["samples"]
    happy = sum(1 for k in range(samples) if k % 4 != 3)
    assert s0["emotion"]["happy"] == round(happy / samples, 4)
    assert s0["emotion"]["neutral"] == 0.0 and s0["dominantEmotion"] == "happy"
    assert s1["emotion"] == {"neutral": 0.0, "happy": 0.0, "sad": 1.0}
    room = r.of("class-summary")[0]
    # pooled over the class's samples: s0's happy ones out of both students' samples
    assert room["emotion"]["happy"] == round(happy / (2 * samples), 4)
    assert room["dominantEmotion"] == "sad"
    assert {p["emotion"] for p in r.of("series") if p["samples"]} <= {"happy", "sad"}


def test_the_dominant_emotion_is_decided_before_rounding() -> None:
    """10,001 happy and 10,000 neutral votes both round to a share of 0.5: happy still leads."""
    window = summaries.Window(3)
    window.resize(1)
    window.samples[0] = 20_001
    window.emotion_votes[0] = [10_000, 10_001, 0]
    writer = summaries.SummaryWriter(("emotion",), ("neutral", "happy", "sad"))
    event = writer.students(window, np.array([0]), [("room-101", "stu_x")], SPAN)[0]
    assert event["emotion"] == {"neutral": 0.5, "happy": 0.5, "sad": 0.0}
    assert event["dominantEmotion"] == "happy"
    room = writer.classroom("room-101", [event], 0, SPAN, window.emotion_votes[0])
    assert room["dominantEmotion"] == "happy"


def test_vote_shares_sum_to_one_at_four_places() -> None:
    shares = summaries.vote_shares(np.array([[1, 1, 1], [2, 0, 1], [0, 0, 0]]))
    assert shares[0].tolist() == [0.3334, 0.3333, 0.3333]
    assert shares[1].tolist() == [0.6667, 0.0, 0.3333]
    assert shares[2].tolist() == [0.0, 0.0, 0.0]
    assert round(float(shares[0].sum()), 9) == 1.0


def test_non_finite_head_values_are_missing_samples_never_emitted(recorder: Any) -> None:
    r = recorder(summary_every_seconds=10.0, smoothing_seconds=0.0)
    r.analysis.add_stream("s0", "room-101", "per-student", 0.0)
    nan, inf = math.nan, math.inf
    t = 0.0
    for k in range(105):
        t = k * 0.1
        bad = k % 2 == 1  # every other crop: NaN attention, an infinite emotion, NaN engagement
        _observe(r, ["s0"], t, [nan if bad else 0.8],
                 [[0.1, inf, 0.2] if bad else [0.1, 0.2, 0.7]], [nan if bad else 0.6])
    # a second student whose heads never give a finite value
    r.analysis.add_stream("s1", "room-101", "per-student", t)
    for k in range(1, 6):
        _observe(r, ["s1"], t + k * 0.1, [inf], [[nan, nan, nan]], [-inf])
    r.analysis.finish(t + 0.6)
    for event in r.events:
        json.dumps(event, allow_nan=False)  # raises on NaN or infinity anywhere
    ids = r.analysis.students
    by_student = {e["student"]: e for e in r.of("student-summary")}
    s0, s1 = by_student[ids[("s0", "0")]], by_student[ids[("s1", "0")]]
    assert s0["attentionMean"] == 0.8 and s0["engagementMean"] == 0.6
    assert s0["emotion"] == {"neutral": 0.0, "happy": 0.0, "sad": 1.0}
    assert s0["dominantEmotion"] == "sad"
    assert r.analysis.state("s0") == "focused"
    assert s1["samples"] > 0
    assert s1["attentionMean"] is None and s1["engagementMean"] is None
    assert "emotion" not in s1 and "dominantEmotion" not in s1
    s1_points = [p for p in r.of("series") if p["student"] == ids[("s1", "0")] and p["samples"]]
    assert s1_points and all(p["attention"] is None for p in s1_points)
    assert all("engagement" not in p and "emotion" not in p for p in s1_points)

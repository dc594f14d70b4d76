"""The merge of the pods' events into one classroom's picture."""

from __future__ import annotations

from typing import Any

from classroom_operator.classview.timeline import RoomTimeline, parse_time

T0 = "2026-12-07T09:00:00.000Z"


def at(second: int) -> str:
    return f"2026-12-07T09:00:{second:02d}.000Z"


def series(student: str, second: int, state: str, attention: float | None = 0.8) -> dict[str, Any]:
    return {"type": "series", "classroom": "room-101", "student": student, "at": at(second),
            "state": state, "attention": None if state == "missing" else attention,
            "samples": 5}


def states(timeline: RoomTimeline, student: str) -> list[tuple[int, str]]:
    now = parse_time(at(59))
    picture = timeline.snapshot(now)
    row = next(s for s in picture["students"] if s["student"] == student)
    return [(round(t - parse_time(T0)), state) for t, state, _ in row["samples"]]


def test_during_a_hand_over_a_sample_that_is_not_missing_wins_whichever_pod_came_first() -> None:
    timeline = RoomTimeline()
    for second in range(3):
        timeline.add("old-0", series("stu_a", second, "focused"))
        timeline.add("new-0", series("stu_a", second, "missing"))  # no crop yet on the new pod
    timeline.add("new-0", series("stu_a", 3, "missing"))
    timeline.add("old-0", series("stu_a", 3, "distracted", 0.2))  # the old pod's, later
    timeline.add("new-0", series("stu_a", 4, "focused"))
    assert states(timeline, "stu_a") == [(0, "focused"), (1, "focused"), (2, "focused"),
                                         (3, "distracted"), (4, "focused")]


def test_two_pods_samples_of_one_moment_meet_whatever_their_phase() -> None:
    timeline = RoomTimeline()
    timeline.add("new-0", {**series("stu_a", 7, "missing"), "at": "2026-12-07T09:00:07.630Z"})
    timeline.add("old-0", {**series("stu_a", 7, "focused"), "at": "2026-12-07T09:00:07.251Z"})
    timeline.add("old-0", {**series("stu_a", 8, "focused"), "at": "2026-12-07T09:00:08.401Z"})
    timeline.add("new-0", {**series("stu_a", 8, "focused"), "at": "2026-12-07T09:00:08.760Z"})
    # one pod's own samples are never merged, however close (a late tick)
    timeline.add("new-0", {**series("stu_a", 9, "focused"), "at": "2026-12-07T09:00:09.100Z"})
    picture = timeline.snapshot(parse_time(at(59)))
    (row,) = picture["students"]
    assert [(round(t - parse_time(T0), 3), state) for t, state, _ in row["samples"]] == [
        (7.251, "focused"), (8.401, "focused"), (9.1, "focused")]


def test_a_replayed_event_changes_nothing() -> None:
    timeline = RoomTimeline()
    events = [series("stu_a", 1, "focused"),
              {"type": "alert", "alert": "distracted", "student": "stu_a", "at": at(2),
               "since": at(1), "seconds": 3, "attention": 0.1},
              {"type": "alert-cleared", "alert": "distracted", "student": "stu_a", "at": at(3),
               "reason": "focused"}]
    for event in events:
        timeline.add("pod-0", event)
    before = timeline.snapshot(parse_time(at(10)))
    for event in events:  # a resume that overlapped what was already read
        timeline.add("pod-0", event)
    assert timeline.snapshot(parse_time(at(10))) == before
    assert before["alerts"] == []


def test_the_old_pod_letting_go_does_not_clear_the_new_pods_alert() -> None:
    timeline = RoomTimeline()
    for pod, since in (("old-0", at(1)), ("new-0", at(4))):
        timeline.add(pod, {"type": "alert", "alert": "distracted", "student": "stu_a",
                           "at": at(5), "since": since, "seconds": 4, "attention": 0.1})
    timeline.add("old-0", {"type": "alert-cleared", "alert": "distracted", "student": "stu_a",
                           "at": at(6), "reason": "unassigned"})
    picture = timeline.snapshot(parse_time(at(10)))
    assert [(a["student"], a["since"], a["ageSeconds"]) for a in picture["alerts"]] == [
        ("stu_a", at(4), 6.0)]


def test_a_student_with_an_open_alert_on_two_pods_shows_once_from_the_earliest() -> None:
    timeline = RoomTimeline()
    for pod, since in (("old-0", at(1)), ("new-0", at(4))):
        timeline.add(pod, {"type": "alert", "alert": "distracted", "student": "stu_a",
                           "at": at(5), "since": since, "seconds": 4, "attention": 0.1})
    picture = timeline.snapshot(parse_time(at(10)))
    assert [a["since"] for a in picture["alerts"]] == [at(1)]
    timeline.forget_pod("old-0")
    assert [a["since"] for a in timeline.snapshot(parse_time(at(10)))["alerts"]] == [at(4)]


def test_gaps_show_per_student_and_end() -> None:
    timeline = RoomTimeline()
    timeline.add("pod-0", series("stu_a", 1, "focused"))
    timeline.add("pod-0", {"type": "gap-started", "student": "stu_a", "from": at(2),
                           "reason": "stream-failed"})
    row = timeline.snapshot(parse_time(at(5)))["students"][0]
    assert row["gap"] == {"reason": "stream-failed", "from": at(2)}
    timeline.add("pod-0", {"type": "gap-ended", "student": "stu_a", "from": at(2), "to": at(4),
                           "seconds": 2})
    assert timeline.snapshot(parse_time(at(5)))["students"][0]["gap"] is None


def test_a_stream_is_healthy_when_any_pod_serving_the_room_has_it_healthy() -> None:
    timeline = RoomTimeline()
    timeline.set_health("old-0", [{"id": "room-101-0", "state": "Healthy", "fps": 5.0},
                                  {"id": "room-101-1", "state": "Failed", "error": "EOF"}])
    timeline.set_health("new-0", [{"id": "room-101-0", "state": "Connecting"},
                                  {"id": "room-101-1", "state": "Failed", "error": "refused"}])
    streams = {s["id"]: (s["state"], s["pod"]) for s in timeline.streams()}
    assert streams == {"room-101-0": ("Healthy", "old-0"), "room-101-1": ("Failed", "new-0")}
    timeline.forget_pod("old-0")
    assert timeline.streams()[0]["state"] == "Connecting"


def test_the_timeline_keeps_only_its_window() -> None:
    timeline = RoomTimeline(window_seconds=10)
    for second in range(30):
        timeline.add("pod-0", series("stu_a", second, "focused"))
    assert min(timeline.samples["stu_a"]) == parse_time(at(19))


def test_the_latest_class_summary_is_shown_whichever_pod_sent_it() -> None:
    timeline = RoomTimeline()
    timeline.add("new-0", {"type": "class-summary", "from": at(10), "to": at(20),
                           "attentionMean": 0.7})
    timeline.add("old-0", {"type": "class-summary", "from": at(0), "to": at(10),
                           "attentionMean": 0.2})
    assert timeline.snapshot(parse_time(at(30)))["summary"]["attentionMean"] == 0.7

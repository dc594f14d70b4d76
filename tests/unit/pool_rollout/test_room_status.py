"""Each selected Classroom's status: its model and pod, its streams' health, written only when
it changed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pod_reports import PodReport, StreamReport
from classroom_operator.rollout.room_status import LiveRoom, changed_rooms
from classroom_operator.spec.model import Stream

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
MODEL = "school/attention"
ROOM = Room("room-1", (Stream("rtsp://cam/1", "per-student"), Stream("rtsp://cam/2", "room")))


def _report(*states: tuple[str, str, str | None]) -> PodReport:
    return PodReport(ready=True, fingerprint="a" * 16, classrooms=frozenset({"room-1"}),
                     streams=tuple(StreamReport(i, "room-1", s, e) for i, s, e in states))


def test_a_served_room_names_its_pod_and_counts_its_streams() -> None:
    reports = {"attention-aaaa0000-0": _report(("room-1-0", "Healthy", None),
                                               ("room-1-1", "Failed", "room-1-1: 401"))}
    patches = changed_rooms(MODEL, [ROOM], {"room-1": LiveRoom("room-1", 3)},
                            assigned={"room-1": "attention-aaaa0000-0"}, leaving={},
                            reports=reports, models=[MODEL], now=NOW)
    status = patches["room-1"]
    assert (status["model"], status["pod"], status["observedGeneration"]) == \
        (MODEL, "attention-aaaa0000-0", 3)
    assert status["streams"] == {"assigned": 2, "healthy": 1}
    assert status["summary"] == {"streams": "1/2"}
    assert status["streamStatuses"] == [{"id": "room-1-0", "state": "Healthy"},
                                        {"id": "room-1-1", "state": "Failed",
                                         "error": "room-1-1: 401"}]
    kinds = {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}
    assert kinds == {"Assigned": ("True", "Assigned"),
                     "StreamsHealthy": ("False", "StreamsUnhealthy")}


def test_an_unchanged_room_is_not_written_again() -> None:
    reports = {"p-0": _report(("room-1-0", "Healthy", None), ("room-1-1", "Healthy", None))}
    first = changed_rooms(MODEL, [ROOM], {"room-1": LiveRoom("room-1", 1)},
                          assigned={"room-1": "p-0"}, leaving={}, reports=reports,
                          models=[MODEL], now=NOW)["room-1"]
    again = changed_rooms(MODEL, [ROOM], {"room-1": LiveRoom("room-1", 1, first)},
                          assigned={"room-1": "p-0"}, leaving={}, reports=reports,
                          models=[MODEL], now=NOW + timedelta(minutes=5))
    assert again == {}


def test_a_room_handed_over_counts_streams_its_old_pod_serves() -> None:
    reports = {"new-0": PodReport(ready=True, fingerprint=None, classrooms=frozenset()),
               "old-0": _report(("room-1-0", "Healthy", None), ("room-1-1", "Healthy", None))}
    status = changed_rooms(MODEL, [ROOM], {"room-1": LiveRoom("room-1", 1)},
                           assigned={"room-1": "new-0"}, leaving={"room-1": ["old-0"]},
                           reports=reports, models=[MODEL], now=NOW)["room-1"]
    assert status["pod"] == "new-0" and status["streams"] == {"assigned": 2, "healthy": 2}


def test_an_unassigned_room_and_a_pod_that_has_not_answered() -> None:
    unassigned = changed_rooms(MODEL, [ROOM], {"room-1": LiveRoom("room-1", 1)}, assigned={},
                               leaving={}, reports={}, models=[MODEL], now=NOW)["room-1"]
    assert unassigned["pod"] == "" and unassigned["streams"] == {"assigned": 0, "healthy": 0}
    assert {s["state"] for s in unassigned["streamStatuses"]} == {"Unassigned"}
    silent = changed_rooms(MODEL, [ROOM], {"room-1": LiveRoom("room-1", 1)},
                           assigned={"room-1": "p-0"}, leaving={},
                           reports={"p-0": "GET /v1/status timed out after 2s"},
                           models=[MODEL], now=NOW)["room-1"]
    assert {s["state"] for s in silent["streamStatuses"]} == {"Connecting"}
    assert "timed out" in silent["streamStatuses"][0]["error"]


def test_a_room_no_longer_selected_is_released_and_another_models_room_is_left_alone() -> None:
    mine = LiveRoom("room-1", 1, {"model": MODEL, "pod": "p-0"})
    theirs = LiveRoom("room-2", 1, {"model": "school/other", "pod": "q-0"})
    gone = LiveRoom("room-3", 1, {"model": "school/deleted", "pod": "r-0"})
    room2 = Room("room-2", ROOM.streams)
    room3 = Room("room-3", ROOM.streams)
    patches = changed_rooms(MODEL, [room2, room3], {"room-1": mine, "room-2": theirs,
                                                    "room-3": gone},
                            assigned={"room-2": "p-0", "room-3": "p-0"}, leaving={}, reports={},
                            models=[MODEL, "school/other"], now=NOW)
    assert patches["room-1"]["model"] == "" and patches["room-1"]["pod"] == ""
    assert "room-2" not in patches
    assert patches["room-3"]["model"] == MODEL  # its model is gone: this one takes it

"""status.pools[], status.streams and StreamsHealthy from the assignment and pod reports."""

from __future__ import annotations

from classroom_operator.rollout.assignment import PodRef
from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pod_reports import PodReport, PoolFacts, parse_report, summarize
from classroom_operator.spec import Stream
from unit.pod_status.conftest import document

A100 = PoolFacts(name="attention-aaaaaaaa", gpu_class="nvidia-a100-sxm4-80gb-sm80-drv550",
                 fingerprint="aaaaaaaa00000000", nodes=2, replicas=1, ready_replicas=1)
L4 = PoolFacts(name="attention-bbbbbbbb", gpu_class="nvidia-l4-sm89-drv550",
               fingerprint="bbbbbbbb00000000", nodes=1, replicas=2, ready_replicas=1)


def _room(name: str, streams: int) -> Room:
    return Room(name, tuple(Stream(f"rtsp://c/{name}/{i}", "per-student")
                            for i in range(streams)))


ROOMS = [_room("room-101", 2), _room("room-102", 1), _room("room-201", 3)]


def _report(*rooms: tuple[str, list[str]], error: str | None = None) -> PodReport:
    return parse_report(document(
        classrooms=[{"name": name, "streams": [
            {"id": f"{name}-{i}", "state": state, "error": "boom" if state == "Failed" else None}
            for i, state in enumerate(states)]} for name, states in rooms],
        assignment={"error": error}))


def test_all_healthy() -> None:
    assigned = {"room-101": PodRef(A100.name, 0), "room-102": PodRef(A100.name, 0),
                "room-201": PodRef(L4.name, 1)}
    reports = {
        f"{A100.name}-0": _report(("room-101", ["Healthy", "Healthy"]), ("room-102", ["Healthy"])),
        f"{L4.name}-1": _report(("room-201", ["Healthy"] * 3)),
    }
    summary = summarize([L4, A100], ROOMS, assigned, reports)
    assert (summary.assigned, summary.healthy) == (6, 6)
    assert summary.pools == (
        {"gpuClass": "nvidia-a100-sxm4-80gb-sm80-drv550", "nodes": 2, "replicas": 1,
         "readyReplicas": 1, "engine": "aaaaaaaa00000000", "streamsAssigned": 3,
         "streamsHealthy": 3},
        {"gpuClass": "nvidia-l4-sm89-drv550", "nodes": 1, "replicas": 2, "readyReplicas": 1,
         "engine": "bbbbbbbb00000000", "streamsAssigned": 3, "streamsHealthy": 3},
    )
    condition = summary.condition
    assert (condition.type, condition.status, condition.reason) == \
        ("StreamsHealthy", "True", "AllHealthy")
    assert condition.message == "6 of 6 streams healthy"


def test_failed_connecting_and_missing_streams_are_named() -> None:
    assigned = {"room-101": PodRef(A100.name, 0), "room-201": PodRef(L4.name, 0)}
    reports = {
        f"{A100.name}-0": _report(("room-101", ["Failed", "Connecting"])),
        f"{L4.name}-0": _report(("room-201", ["Healthy"])),
    }
    summary = summarize([A100, L4], ROOMS, assigned, reports)
    assert (summary.assigned, summary.healthy) == (5, 1)
    assert [pool["streamsHealthy"] for pool in summary.pools] == [0, 1]
    message = summary.condition.message
    assert summary.condition.status == "False"
    assert summary.condition.reason == "StreamsUnhealthy"
    assert message.startswith("1 of 5 streams healthy: ")
    assert "room-101-0: Failed: boom" in message
    assert "room-101-1: Connecting" in message
    assert "room-201-1: not reported by pod attention-bbbbbbbb-0" in message


def test_a_silent_pod_and_a_room_not_taken_yet_count_as_unhealthy() -> None:
    assigned = {"room-101": PodRef(A100.name, 0), "room-102": PodRef(A100.name, 1),
                "room-201": PodRef(L4.name, 0)}
    reports: dict[str, PodReport | str] = {
        f"{A100.name}-0": "GET /v1/status timed out after 2s",
        f"{L4.name}-0": _report(error="pods['x'][0].streams[0].url is missing"),
    }
    summary = summarize([A100, L4], ROOMS, assigned, reports)
    assert (summary.assigned, summary.healthy) == (6, 0)
    message = summary.condition.message
    assert "room-101: pod attention-aaaaaaaa-0 GET /v1/status timed out after 2s" in message
    assert "room-102: pod attention-aaaaaaaa-1 has not answered" in message
    assert "room-201: pod attention-bbbbbbbb-0 has not taken it yet (it refused the " \
           "assignment: pods['x'][0].streams[0].url is missing)" in message


def test_long_lists_are_cut_with_a_count() -> None:
    rooms = [_room(f"room-{i}", 1) for i in range(9)]
    assigned = {room.name: PodRef(A100.name, 0) for room in rooms}
    reports = {f"{A100.name}-0": _report(*[(room.name, ["Failed"]) for room in rooms])}
    message = summarize([A100], rooms, assigned, reports).condition.message
    assert message.count("Failed: boom") == 5
    assert message.endswith("; and 4 more")


def test_nothing_assigned_is_unknown() -> None:
    summary = summarize([A100], [], {}, {})
    assert (summary.assigned, summary.healthy) == (0, 0)
    assert summary.pools[0]["streamsAssigned"] == 0
    assert (summary.condition.status, summary.condition.reason) == ("Unknown", "NoStreams")


def test_streams_of_a_room_another_pod_reports_do_not_count() -> None:
    # room-101 moved to the L4 pool; the A100 pod still reporting it must not count it.
    assigned = {"room-101": PodRef(L4.name, 0)}
    reports = {f"{A100.name}-0": _report(("room-101", ["Healthy", "Healthy"])),
               f"{L4.name}-0": _report()}
    summary = summarize([A100, L4], ROOMS, assigned, reports)
    assert (summary.assigned, summary.healthy) == (2, 0)


def test_a_room_being_handed_over_is_served_by_the_pod_it_leaves() -> None:
    # room-101 is handed over from the A100 pod to the L4 pod, which is still connecting it.
    assigned = {"room-101": PodRef(L4.name, 0), "room-102": PodRef(L4.name, 0)}
    old, new = PodRef(A100.name, 0), PodRef(L4.name, 0)
    reports = {old.name: _report(("room-101", ["Healthy", "Failed"]), ("room-102", ["Healthy"])),
               new.name: _report(("room-101", ["Connecting", "Connecting"]))}
    summary = summarize([A100, L4], ROOMS, assigned, reports,
                        {"room-101": [old], "room-102": [old]})
    assert (summary.assigned, summary.healthy) == (3, 2)
    # Counted in the pool the rooms belong to.
    assert [pool["streamsHealthy"] for pool in summary.pools] == [0, 2]
    message = summary.condition.message
    # A stream healthy on neither pod is named as the new pod sees it; the rest are served.
    assert message == "2 of 3 streams healthy: room-101-1: Connecting"
    # Without the hand-over, the same reports leave room-102 unserved.
    alone = summarize([A100, L4], ROOMS, assigned, reports)
    assert (alone.assigned, alone.healthy) == (3, 0)

"""What the inference pods say about their streams (pure): each pod's `GET /v1/status`
(docs/contracts.md, "The pod's status document") read into a `PodReport`, and their sum in
status.pools[], status.streams and the StreamsHealthy condition. pod_client.py fetches them.

A stream counts as healthy only when the pod
it is assigned to reports it Healthy, or, while its room is handed over, the pod the room is
leaving does (the room is served meanwhile: that is what the hand-over is for). A pod that has
not answered, or has not yet taken the room, counts its streams as not healthy, with the reason
in the condition's message. status.pools[] counts each room's streams, and those served, in
the pool of the room's own pod.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classroom_operator.conditions import Condition
from classroom_operator.rollout.assignment import PodRef
from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pools import stream_ids

HEALTHY = "Healthy"
SHOWN = 5  # streams named in the condition's message; the rest are counted


class ReportInvalid(ValueError):
    """The pod answered with something that is not the contract's status document."""


@dataclass(frozen=True)
class StreamReport:
    id: str
    classroom: str
    state: str
    error: str | None = None


@dataclass(frozen=True)
class SinkReport:
    """The pod's webhook as its status document's `sink` tells it."""

    configured: bool
    failures: int = 0
    last_error: str | None = None
    spool_bytes: int = 0
    spool_max_bytes: int = 0
    spool_full: bool = False
    lost_events: int = 0
    expired_events: int = 0
    oldest_undelivered_seconds: float | None = None


@dataclass(frozen=True)
class PodReport:
    ready: bool
    fingerprint: str | None
    classrooms: frozenset[str]
    streams: tuple[StreamReport, ...] = ()
    # Why the pod refused its assignment file (it keeps serving the previous one).
    assignment_error: str | None = None
    sink: SinkReport | None = None


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) \
        else 0.0


def parse_sink(document: Any) -> SinkReport | None:
    """The `sink` section; None when the pod has none (or an unreadable one: the sink's health
    is then unknown, which never hides the streams' report)."""
    if not isinstance(document, Mapping):
        return None
    spool = document.get("spool")
    spool = spool if isinstance(spool, Mapping) else {}
    error = document.get("lastError")
    oldest = document.get("oldestUndeliveredSeconds")
    return SinkReport(
        configured=document.get("configured") is True,
        failures=int(_number(document.get("failures"))),
        last_error=error if isinstance(error, str) and error else None,
        spool_bytes=int(_number(spool.get("bytes"))),
        spool_max_bytes=int(_number(spool.get("maxBytes"))),
        spool_full=spool.get("full") is True,
        lost_events=int(_number(spool.get("lostEvents"))),
        expired_events=int(_number(spool.get("expiredEvents"))),
        oldest_undelivered_seconds=_number(oldest) if oldest is not None else None)


def parse_report(document: Any) -> PodReport:
    if not isinstance(document, Mapping):
        raise ReportInvalid("the status document is not a JSON object")
    rooms = document.get("classrooms")
    if not isinstance(rooms, list):
        raise ReportInvalid("classrooms is missing or not a list")
    names: set[str] = set()
    streams: list[StreamReport] = []
    for room in rooms:
        if not isinstance(room, Mapping) or not isinstance(room.get("name"), str) \
                or not isinstance(room.get("streams"), list):
            raise ReportInvalid("every classroom needs a name and a list of streams")
        names.add(room["name"])
        for stream in room["streams"]:
            if not isinstance(stream, Mapping) or not isinstance(stream.get("id"), str):
                raise ReportInvalid(f"a stream of {room['name']} has no id")
            error = stream.get("error")
            streams.append(StreamReport(id=stream["id"], classroom=room["name"],
                                        state=str(stream.get("state", "")),
                                        error=error if isinstance(error, str) else None))
    assignment = document.get("assignment")
    refused = assignment.get("error") if isinstance(assignment, Mapping) else None
    fingerprint = document.get("fingerprint")
    return PodReport(ready=document.get("ready") is True,
                     fingerprint=fingerprint if isinstance(fingerprint, str) else None,
                     classrooms=frozenset(names), streams=tuple(streams),
                     assignment_error=refused if isinstance(refused, str) else None,
                     sink=parse_sink(document.get("sink")))


@dataclass(frozen=True)
class PoolFacts:
    """One pool as status.pools[] shows it."""

    name: str
    gpu_class: str
    fingerprint: str
    nodes: int
    replicas: int
    ready_replicas: int


@dataclass(frozen=True)
class StreamsSummary:
    pools: tuple[dict[str, Any], ...]
    assigned: int
    healthy: int
    condition: Condition


def _healthy_on(room: str, pods: Sequence[PodRef],
                reports: Mapping[str, PodReport | str]) -> set[str]:
    """Ids of the room's streams that any of `pods` reports Healthy."""
    healthy: set[str] = set()
    for pod in pods:
        report = reports.get(pod.name)
        if isinstance(report, PodReport) and room in report.classrooms:
            healthy.update(s.id for s in report.streams
                           if s.classroom == room and s.state == HEALTHY)
    return healthy


def summarize(pools: Sequence[PoolFacts], rooms: Iterable[Room], assigned: Mapping[str, PodRef],
              reports: Mapping[str, PodReport | str],
              handing_over: Mapping[str, Sequence[PodRef]] | None = None) -> StreamsSummary:
    """status.pools[], status.streams and StreamsHealthy from the assignment and the reports;
    `handing_over` names, by room, the pods a room is leaving that still serve it."""
    by_name = {room.name: room for room in rooms}
    assigned_in: dict[str, int] = {}
    healthy_in: dict[str, int] = {}
    problems: list[str] = []
    for room_name, pod in sorted(assigned.items()):
        room = by_name.get(room_name)
        if room is None:
            continue
        ids = stream_ids(room)
        assigned_in[pod.pool] = assigned_in.get(pod.pool, 0) + len(ids)
        kept = _healthy_on(room_name, (handing_over or {}).get(room_name, ()), reports)
        report = reports.get(pod.name)
        if not isinstance(report, PodReport) or room_name not in report.classrooms:
            healthy_in[pod.pool] = healthy_in.get(pod.pool, 0) + len(kept & set(ids))
            if kept >= set(ids):
                continue
            if not isinstance(report, PodReport):
                problems.append(f"{room_name}: pod {pod.name} "
                                f"{'has not answered' if report is None else report}")
            else:
                refused = f" (it refused the assignment: {report.assignment_error})" \
                    if report.assignment_error else ""
                problems.append(f"{room_name}: pod {pod.name} has not taken it yet{refused}")
            continue
        states = {s.id: s for s in report.streams if s.classroom == room_name}
        for stream_id in ids:
            stream = states.get(stream_id)
            if (stream is not None and stream.state == HEALTHY) or stream_id in kept:
                healthy_in[pod.pool] = healthy_in.get(pod.pool, 0) + 1
            elif stream is None:
                problems.append(f"{stream_id}: not reported by pod {pod.name}")
            else:
                reason = f": {stream.error}" if stream.error else ""
                problems.append(f"{stream_id}: {stream.state}{reason}")
    items = tuple({
        "gpuClass": pool.gpu_class,
        "nodes": pool.nodes,
        "replicas": pool.replicas,
        "readyReplicas": pool.ready_replicas,
        "engine": pool.fingerprint,
        "streamsAssigned": assigned_in.get(pool.name, 0),
        "streamsHealthy": healthy_in.get(pool.name, 0),
    } for pool in sorted(pools, key=lambda p: (p.gpu_class, p.name)))
    total, healthy = sum(assigned_in.values()), sum(healthy_in.values())
    return StreamsSummary(items, total, healthy, _condition(total, healthy, problems))


def _condition(total: int, healthy: int, problems: Sequence[str]) -> Condition:
    if total == 0:
        return Condition("StreamsHealthy", "Unknown", "NoStreams",
                         "no classroom stream is assigned yet")
    if healthy == total:
        return Condition("StreamsHealthy", "True", "AllHealthy",
                         f"{healthy} of {total} streams healthy")
    shown = "; ".join(problems[:SHOWN])
    more = f"; and {len(problems) - SHOWN} more" if len(problems) > SHOWN else ""
    return Condition("StreamsHealthy", "False", "StreamsUnhealthy",
                     f"{healthy} of {total} streams healthy: {shown}{more}")

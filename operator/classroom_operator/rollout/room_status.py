"""Each selected Classroom's status (pure): which model and pod serve it, and how its streams
are, from the rollout's assignment and the pods' reports. School IT sees it with
`kubectl get rooms` (the Pod and Streams columns) without reading the model.

A district has thousands of rooms, so a room's status is written only when it changed: the
desired status keeps the live conditions' lastTransitionTime while their status holds, and
`changed_rooms` compares it with the live one. A stream is Healthy when the room's pod reports
it so, or, while the room is handed over, the pod it leaves does; Unassigned when no pod serves
the room; otherwise as the pod reports it (Connecting while the pod has not taken the room or
not answered, with the reason in `error`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from classroom_operator.conditions import Condition
from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pod_reports import HEALTHY, PodReport
from classroom_operator.rollout.pools import stream_ids
from classroom_operator.status import merge_conditions, status_patch

STATES = ("Healthy", "Connecting", "Failed")
ERROR_LIMIT = 1000


@dataclass(frozen=True)
class LiveRoom:
    """A Classroom as its status stands: its generation and status."""

    name: str
    generation: int
    status: Mapping[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        return str(self.status.get("model") or "")


def _trim(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= ERROR_LIMIT else text[:ERROR_LIMIT - 3] + "..."


def _streams(room: Room, pod: str | None, leaving: Sequence[str],
             reports: Mapping[str, PodReport | str]) -> list[dict[str, Any]]:
    ids = stream_ids(room)
    if pod is None:
        return [{"id": i, "state": "Unassigned"} for i in ids]
    kept: set[str] = set()
    for name in leaving:
        other = reports.get(name)
        if isinstance(other, PodReport):
            kept.update(s.id for s in other.streams
                        if s.classroom == room.name and s.state == HEALTHY)
    report = reports.get(pod)
    why = ""
    if not isinstance(report, PodReport):
        why = f"pod {pod} has not answered" if report is None else f"pod {pod}: {report}"
    elif room.name not in report.classrooms:
        why = f"pod {pod} has not taken the room yet"
    if why or not isinstance(report, PodReport):
        return [{"id": i, "state": "Healthy"} if i in kept else
                {"id": i, "state": "Connecting", "error": _trim(why)} for i in ids]
    states = {s.id: s for s in report.streams if s.classroom == room.name}
    result = []
    for stream_id in ids:
        stream = states.get(stream_id)
        if stream_id in kept or (stream is not None and stream.state == HEALTHY):
            result.append({"id": stream_id, "state": "Healthy"})
        elif stream is None:
            result.append({"id": stream_id, "state": "Connecting",
                           "error": f"not reported by pod {pod} yet"})
        else:
            entry = {"id": stream_id,
                     "state": stream.state if stream.state in STATES else "Connecting"}
            if stream.error:
                entry["error"] = _trim(stream.error)
            result.append(entry)
    return result


def room_status(model: str, room: Room, live: LiveRoom, *, pod: str | None,
                leaving: Sequence[str], reports: Mapping[str, PodReport | str],
                now: datetime) -> dict[str, Any]:
    """The desired status of one selected room."""
    streams = _streams(room, pod, leaving, reports)
    assigned = len(streams) if pod is not None else 0
    healthy = sum(1 for s in streams if s["state"] == "Healthy")
    if pod is None:
        conditions = [Condition("Assigned", "False", "Unassigned",
                                f"model {model} has no pod for the room yet; see its RolledOut "
                                "condition"),
                      Condition("StreamsHealthy", "Unknown", "Unassigned",
                                "no pod serves the room's streams yet")]
    else:
        conditions = [Condition("Assigned", "True", "Assigned",
                                f"pod {pod} of model {model} serves the room")]
        bad = [s for s in streams if s["state"] != "Healthy"]
        if bad:
            shown = "; ".join(f"{s['id']}: {s['state']}" + (f": {s['error']}" if s.get("error")
                                                             else "") for s in bad[:3])
            conditions.append(Condition("StreamsHealthy", "False", "StreamsUnhealthy",
                                        f"{healthy} of {assigned} streams healthy: {shown}"))
        else:
            conditions.append(Condition("StreamsHealthy", "True", "AllHealthy",
                                        f"{healthy} of {assigned} streams healthy"))
    return {
        "observedGeneration": live.generation,
        "model": model,
        "pod": pod or "",
        "streams": {"assigned": assigned, "healthy": healthy},
        "summary": {"streams": f"{healthy}/{assigned}"},
        "streamStatuses": streams,
        "conditions": merge_conditions(live.status.get("conditions") or [], conditions,
                                       live.generation, now),
    }


def released_status(live: LiveRoom, now: datetime) -> dict[str, Any]:
    """The status of a room this model served and no longer selects."""
    conditions = [Condition("Assigned", "False", "NotSelected",
                            f"model {live.model} no longer selects the room (its labels or the "
                            "model's spec.classroomSelector changed)"),
                  Condition("StreamsHealthy", "Unknown", "Unassigned",
                            "no pod serves the room's streams")]
    return {"observedGeneration": live.generation, "model": "", "pod": "",
            "streams": {"assigned": 0, "healthy": 0}, "summary": {"streams": "0/0"},
            "streamStatuses": [],
            "conditions": merge_conditions(live.status.get("conditions") or [], conditions,
                                           live.generation, now)}


def changed_rooms(model: str, selected: Iterable[Room], live: Mapping[str, LiveRoom], *,
                  assigned: Mapping[str, str], leaving: Mapping[str, Sequence[str]],
                  reports: Mapping[str, PodReport | str], models: Iterable[str],
                  now: datetime) -> dict[str, dict[str, Any]]:
    """Room name -> the status fields to patch, for the rooms whose status changes. A room
    whose status names another model that still exists is left to it; `models` are the
    namespace's models as "namespace/name"."""
    others = set(models) - {model}
    patches: dict[str, dict[str, Any]] = {}
    chosen = set()
    for room in selected:
        current = live.get(room.name)
        if current is None:  # an inline room, or a Classroom the index has not shown yet
            continue
        chosen.add(room.name)
        if current.model in others:
            continue
        desired = room_status(model, room, current, pod=assigned.get(room.name),
                              leaving=leaving.get(room.name, ()), reports=reports, now=now)
        patch = status_patch(current.status, desired)
        if patch:
            patches[room.name] = patch
    for name, current in live.items():
        if name not in chosen and current.model == model:
            patch = status_patch(current.status, released_status(current, now))
            if patch:
                patches[name] = patch
    return patches

"""Which classrooms exist and which pods serve each (pure): from the ClassroomModels, the
Classroom resources and the pools' assignment ConfigMaps (docs/contracts.md, "The inference pod").

During a hand-over a room is listed under two pods, and both are followed; a pod that is not
listed any more is let go.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

GROUP = "classroom-operator.io"
ASSIGNMENT_FILE = "assignment.json"
Object = Mapping[str, Any]


@dataclass(frozen=True)
class RoomRef:
    """A classroom as a person is allowed to see it: a Classroom resource, or an inline classroom
    of a ClassroomModel (then access is `get` on that model)."""

    namespace: str
    name: str
    model: str  # the ClassroomModel serving it, in the same namespace
    inline: bool

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def resource_attributes(self) -> dict[str, str]:
        """What SubjectAccessReview asks: may the person `get` this object?"""
        if self.inline:
            return {"group": GROUP, "resource": "classroommodels", "verb": "get",
                    "namespace": self.namespace, "name": self.model}
        return {"group": GROUP, "resource": "classrooms", "verb": "get",
                "namespace": self.namespace, "name": self.name}


@dataclass(frozen=True)
class ServingPod:
    namespace: str
    name: str
    ip: str
    uid: str  # a new pod of the same name starts a new event sequence


def rooms_from(models: Iterable[Object], classrooms: Iterable[Object],
               configmaps: Iterable[Object] = ()) -> dict[str, RoomRef]:
    """Every room by `namespace/name`: inline classrooms and every Classroom resource (access to
    one is asked of the Classroom itself; its model, for the page, comes from its status or from
    the assignment file that lists it)."""
    rooms: dict[str, RoomRef] = {}
    for model in models:
        meta = model.get("metadata") or {}
        for entry in (model.get("spec") or {}).get("classrooms") or []:
            room = RoomRef(meta.get("namespace", ""), str(entry.get("name")), meta.get("name", ""),
                           inline=True)
            rooms[room.key] = room
    assigned = {key: model for key, model, _ in _assignments(configmaps)}
    for classroom in classrooms:
        meta = classroom.get("metadata") or {}
        key = f"{meta.get('namespace', '')}/{meta.get('name', '')}"
        served_by = str((classroom.get("status") or {}).get("model") or "")
        model_name = served_by.partition("/")[2] or assigned.get(key, "")
        rooms[key] = RoomRef(meta.get("namespace", ""), meta.get("name", ""), model_name,
                             inline=False)
    return rooms


def _assignments(configmaps: Iterable[Object]) -> Iterator[tuple[str, str, str]]:
    """(`namespace/room`, model name, pod name) for every entry of every assignment file. A
    ConfigMap whose file is not JSON is skipped: the operator writes them, a broken one is not
    ours to fix."""
    for configmap in configmaps:
        namespace = (configmap.get("metadata") or {}).get("namespace", "")
        try:
            document = json.loads((configmap.get("data") or {}).get(ASSIGNMENT_FILE) or "{}")
        except ValueError:
            continue
        model = str(document.get("model") or "").partition("/")[2]
        for pod_name, entries in (document.get("pods") or {}).items():
            for entry in entries or []:
                yield f"{namespace}/{entry.get('name')}", model, pod_name


def serving_pods(configmaps: Iterable[Object], pods: Iterable[Object]
                 ) -> dict[str, list[ServingPod]]:
    """`namespace/room` -> the pods whose assignment file lists it and that have an IP."""
    running: dict[tuple[str, str], ServingPod] = {}
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        if status.get("podIP") and not meta.get("deletionTimestamp"):
            running[(meta.get("namespace", ""), meta.get("name", ""))] = ServingPod(
                meta.get("namespace", ""), meta.get("name", ""), status["podIP"],
                meta.get("uid", ""))
    served: dict[str, list[ServingPod]] = {}
    for key, _, pod_name in _assignments(configmaps):
        serving = running.get((key.split("/", 1)[0], pod_name))
        if serving is not None:
            served.setdefault(key, []).append(serving)
    return {key: sorted(pods, key=lambda p: p.name) for key, pods in served.items()}

"""The rollout's objects as kopf's indexes keep them: each pool's StatefulSet, its pods and its
assignment ConfigMap, cut down to what the rollout decides on (pure).

Views are small and comparable, so an index holding thousands of pods stays cheap, and an
unchanged object gives an equal view.

A room being handed over is listed on the pod it leaves as well as on its new pod. The giving
pool's ConfigMap says so in the annotation `classroom-operator.io/handovers`, a JSON object
`{"<room>": {"to": "<pod>", "since": "<UTC ISO 8601>"}}`: which pod the room now belongs to
(every other pod listing it keeps a copy) and since when, so a restarted operator tells the copy
from the room's own pod and knows how long the hand-over has taken. The annotation is the
operator's own record; pods read only the assignment file.

An old pool that gave up GPUs so that its model's new engine could be built or served carries
the annotation `classroom-operator.io/gpu-yield` on its StatefulSet, a JSON object
`{"from": <pods before>, "replicas": <pods now>, "at": "<UTC ISO 8601>", "for": "<engine or pool
waiting>", "reason": "<the scheduler's message>"}`, so a restarted operator keeps the pool at its
lowered size and knows when it last gave one up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from classroom_operator.names import (
    FINGERPRINT_LABEL,
    GPU_CLASS_LABEL,
    GPU_YIELD_ANNOTATION,
    HANDOVERS_ANNOTATION,
    MODEL_LABEL,
    POOL_LABEL,
    SPEC_HASH_ANNOTATION,
)
from classroom_operator.rollout.pools import ASSIGNMENT_FILE, CONTAINER


@dataclass(frozen=True)
class YieldRecord:
    """GPUs an old pool gave up for its model's new engine: it runs `replicas` of `before` pods."""

    before: int
    replicas: int
    at: float  # seconds since the epoch of the last pod given up
    waiting: str  # what the GPU went to: "engine <fingerprint>" or "pool <name>"
    reason: str  # the scheduler's message about the pod that could not start

    def to_text(self) -> str:
        return json.dumps({"from": self.before, "replicas": self.replicas,
                           "at": datetime.fromtimestamp(self.at, UTC).strftime(
                               "%Y-%m-%dT%H:%M:%SZ"),
                           "for": self.waiting, "reason": self.reason[:500]},
                          sort_keys=True, separators=(",", ":"))


def yield_record(text: Any) -> YieldRecord | None:
    """The record an annotation holds; None for none or one that cannot be read (the pool is
    then sized as if it had given nothing up)."""
    try:
        document = json.loads(text) if isinstance(text, str) and text else None
        if not isinstance(document, Mapping):
            return None
        before, replicas = document.get("from"), document.get("replicas")
        if not isinstance(before, int) or not isinstance(replicas, int) or \
                not 0 <= replicas <= before:
            return None
        at = datetime.fromisoformat(str(document.get("at"))).timestamp()
    except ValueError:
        return None
    return YieldRecord(before, replicas, at, str(document.get("for") or ""),
                       str(document.get("reason") or ""))


@dataclass(frozen=True)
class PoolObject:
    """A pool's StatefulSet."""

    namespace: str
    name: str
    model: str  # the model label
    fingerprint: str
    gpu_class: str
    replicas: int
    spec_hash: str = ""
    gpu_yield: YieldRecord | None = None


@dataclass(frozen=True)
class ServingPod:
    namespace: str
    name: str
    pool: str
    model: str
    ready: bool
    ip: str | None = None
    # Why it is not running or not Ready, as kubectl would show it.
    waiting: str = ""
    # While the scheduler finds no node for it: since when (seconds since the epoch).
    unschedulable_since: float | None = None


@dataclass(frozen=True)
class HandoverRecord:
    to: str  # the pod the room now belongs to
    since: float  # seconds since the epoch


@dataclass(frozen=True)
class StoredAssignment:
    """A pool's assignment file as last written, and its hand-over records."""

    namespace: str
    pool: str
    model: str
    text: str
    listed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # room -> pod names
    handovers: Mapping[str, HandoverRecord] = field(default_factory=dict)  # by room
    handovers_text: str = ""  # the annotation as stored


def handovers_text(records: Mapping[str, HandoverRecord]) -> str:
    """The hand-over annotation for `records`; empty for none."""
    if not records:
        return ""
    return json.dumps({room: {"to": record.to, "since": datetime.fromtimestamp(
        record.since, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}
        for room, record in records.items()}, sort_keys=True, separators=(",", ":"))


def _handover_records(text: Any) -> dict[str, HandoverRecord]:
    """The records an annotation holds; one that cannot be read holds none (each room's pod
    is then worked out from the files alone)."""
    try:
        document = json.loads(text) if isinstance(text, str) and text else {}
    except ValueError:
        return {}
    records = {}
    for room, record in document.items() if isinstance(document, Mapping) else ():
        if not isinstance(record, Mapping) or not isinstance(record.get("to"), str):
            continue
        try:
            since = datetime.fromisoformat(str(record.get("since"))).timestamp()
        except ValueError:
            continue
        records[str(room)] = HandoverRecord(record["to"], since)
    return records


def pool_object(meta: Mapping[str, Any], spec: Mapping[str, Any]) -> PoolObject:
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    replicas = spec.get("replicas")
    return PoolObject(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        model=str(labels.get(MODEL_LABEL, "")),
        fingerprint=str(labels.get(FINGERPRINT_LABEL, "")),
        gpu_class=str(labels.get(GPU_CLASS_LABEL, "")),
        replicas=replicas if isinstance(replicas, int) else 1,
        spec_hash=str(annotations.get(SPEC_HASH_ANNOTATION, "")),
        gpu_yield=yield_record(annotations.get(GPU_YIELD_ANNOTATION)),
    )


def _waiting(status: Mapping[str, Any]) -> str:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            return f"{condition.get('reason', 'Unschedulable')}: {condition.get('message', '')}"
    for container in status.get("containerStatuses") or []:
        if container.get("name") != CONTAINER:
            continue
        state = container.get("state") or {}
        if "waiting" in state:
            waiting = state["waiting"]
            return f"{waiting.get('reason', '')}: {waiting.get('message', '')}".strip(": ")
        if "terminated" in state:
            return f"exited with code {state['terminated'].get('exitCode')}"
        if not container.get("ready"):
            restarts = container.get("restartCount") or 0
            return "not Ready yet" + (f" ({restarts} restarts)" if restarts else "")
    if status.get("phase") == "Pending":
        return "Pending"
    return ""


def serving_pod(meta: Mapping[str, Any], status: Mapping[str, Any]) -> ServingPod:
    labels = meta.get("labels") or {}
    ready = any(c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or [])
    deleting = meta.get("deletionTimestamp") is not None
    return ServingPod(
        namespace=str(meta.get("namespace", "")),
        name=str(meta.get("name", "")),
        pool=str(labels.get(POOL_LABEL, "")),
        model=str(labels.get(MODEL_LABEL, "")),
        # A pod being deleted is draining: rooms must not be moved onto it.
        ready=ready and not deleting,
        ip=status.get("podIP") or None,
        waiting="Terminating" if deleting else ("" if ready else _waiting(status)),
        unschedulable_since=_unschedulable_since(status),
    )


def _unschedulable_since(status: Mapping[str, Any]) -> float | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False" \
                and condition.get("reason", "Unschedulable") == "Unschedulable":
            try:
                return datetime.fromisoformat(
                    str(condition.get("lastTransitionTime")).replace("Z", "+00:00")).timestamp()
            except ValueError:
                return None
    return None


def stored_assignment(meta: Mapping[str, Any], data: Mapping[str, Any]) -> StoredAssignment:
    """The pods listing each room in the ConfigMap's assignment file (an unreadable file lists
    none), and the hand-over records of its annotation."""
    labels = meta.get("labels") or {}
    annotation = (meta.get("annotations") or {}).get(HANDOVERS_ANNOTATION)
    text = data.get(ASSIGNMENT_FILE)
    listed: dict[str, list[str]] = {}
    try:
        pods = json.loads(text).get("pods") if isinstance(text, str) else None
    except (ValueError, AttributeError):
        pods = None
    if isinstance(pods, Mapping):
        for pod, entries in sorted(pods.items()):
            for entry in entries if isinstance(entries, list) else ():
                name = entry.get("name") if isinstance(entry, Mapping) else None
                if isinstance(name, str) and pod not in listed.setdefault(name, []):
                    listed[name].append(pod)
    return StoredAssignment(namespace=str(meta.get("namespace", "")),
                            pool=str(labels.get(POOL_LABEL, "")),
                            model=str(labels.get(MODEL_LABEL, "")),
                            text=text if isinstance(text, str) else "",
                            listed={room: tuple(pods) for room, pods in listed.items()},
                            handovers=_handover_records(annotation),
                            handovers_text=annotation if isinstance(annotation, str) else "")

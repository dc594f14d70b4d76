"""The rollout's objects as kopf's indexes keep them: each pool's StatefulSet, its pods and its
assignment ConfigMap, cut down to what the rollout decides on (pure).

Views are small and comparable, so an index holding thousands of pods stays cheap, and an
unchanged object gives an equal view.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from classroom_operator.builds import FINGERPRINT_LABEL, GPU_CLASS_LABEL, GROUP
from classroom_operator.pools import ASSIGNMENT_FILE, CONTAINER, MODEL_LABEL, POOL_LABEL

SPEC_HASH_ANNOTATION = f"{GROUP}/spec-sha256"


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


@dataclass(frozen=True)
class StoredAssignment:
    """A pool's assignment file as last written: room -> pod name."""

    namespace: str
    pool: str
    model: str
    text: str
    rooms: Mapping[str, str] = field(default_factory=dict)


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
    )


def stored_assignment(meta: Mapping[str, Any], data: Mapping[str, Any]) -> StoredAssignment:
    """Rooms by pod from the ConfigMap's assignment file; an unreadable file holds none."""
    labels = meta.get("labels") or {}
    text = data.get(ASSIGNMENT_FILE)
    rooms: dict[str, str] = {}
    try:
        pods = json.loads(text).get("pods") if isinstance(text, str) else None
    except (ValueError, AttributeError):
        pods = None
    if isinstance(pods, Mapping):
        for pod, entries in sorted(pods.items()):
            for entry in entries if isinstance(entries, list) else ():
                name = entry.get("name") if isinstance(entry, Mapping) else None
                if isinstance(name, str):
                    rooms.setdefault(name, pod)
    return StoredAssignment(namespace=str(meta.get("namespace", "")),
                            pool=str(labels.get(POOL_LABEL, "")),
                            model=str(labels.get(MODEL_LABEL, "")),
                            text=text if isinstance(text, str) else "", rooms=rooms)

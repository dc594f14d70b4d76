"""Helpers for the rollout's integration tests: the test model's manifest, what the API shows
about its pools and what its pods report, and a watcher that checks every classroom stays on a
Ready pod and served, with every stream Healthy on some pod."""

from __future__ import annotations

import base64
import contextlib
import json
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.operator_harness import MODELS, model_manifest
from localcluster.kubeapi import Api, ApiError

Object = dict[str, Any]
INFERENCE = "app.kubernetes.io/component=inference"


@dataclass(frozen=True)
class Media:
    model: Object  # spec.model of the reference model
    video: str  # a file:// URL that loops


def room(media: Media, name: str, streams: int = 1) -> Object:
    # One video for every camera; a query the pod ignores keeps the URLs distinct, as admission
    # wants them within a room.
    return {"name": name, "streams": [{"url": media.video + (f"&camera={i}" if i else "")}
                                      for i in range(streams)]}


def manifest(media: Media, name: str, pool: str, **spec: Any) -> Object:
    """A ClassroomModel of the reference model, served at 5 fps per stream."""
    return model_manifest(name, pool, model=media.model,
                          serving={"targetFps": 5}, **spec)


def stream_status(api: Api, pool: str, name: str) -> Object:
    found = api.get_or_none(f"{MODELS.format(namespace=pool)}/{name}") or {}
    status: Object = found.get("status") or {}
    return status


def condition(status: Object, kind: str) -> Object:
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), {})


def serving(api: Api, pool: str, name: str, streams: int) -> Object | None:
    """The model's status once it is Ready with `streams` streams all healthy."""
    status = stream_status(api, pool, name)
    if status.get("phase") == "Ready" and status.get("streams") == \
            {"assigned": streams, "healthy": streams} and \
            condition(status, "RolledOut").get("status") == "True":
        return status
    return None


def assignments(api: Api, pool: str) -> dict[str, list[str]]:
    """room -> every pod whose assignment file lists it (across all pools)."""
    rooms: dict[str, list[str]] = {}
    listing = api.get(f"/api/v1/namespaces/{pool}/configmaps?labelSelector={INFERENCE}")
    for item in listing["items"]:
        document = json.loads((item.get("data") or {}).get("assignment.json", "{}"))
        for pod, entries in (document.get("pods") or {}).items():
            for entry in entries:
                rooms.setdefault(entry["name"], []).append(pod)
    return rooms


def handover_records(api: Api, pool: str) -> set[tuple[str, str]]:
    """(room, pod it is handed to) from the assignment ConfigMaps' hand-over annotations."""
    listing = api.get(f"/api/v1/namespaces/{pool}/configmaps?labelSelector={INFERENCE}")
    records: set[tuple[str, str]] = set()
    for item in listing["items"]:
        annotations = item["metadata"].get("annotations") or {}
        text = annotations.get("classroom-operator.io/handovers")
        records.update((room, record["to"]) for room, record in json.loads(text or "{}").items())
    return records


def ready_pods(api: Api, pool: str) -> dict[str, Object]:
    listing = api.get(f"/api/v1/namespaces/{pool}/pods?labelSelector={INFERENCE}")
    return {pod["metadata"]["name"]: pod for pod in listing["items"]
            if any(c.get("type") == "Ready" and c.get("status") == "True"
                   for c in (pod.get("status") or {}).get("conditions") or [])
            and not pod["metadata"].get("deletionTimestamp")}


def status_request(api: Api, namespace: str, ip: str) -> urllib.request.Request:
    """GET /v1/status with the namespace's pod API token (the Secret the operator creates)."""
    secret = api.get(f"/api/v1/namespaces/{namespace}/secrets/classroom-pod-api-token")
    token = base64.b64decode(secret["data"]["token"]).decode()
    return urllib.request.Request(f"http://{ip}:8080/v1/status",
                                  headers={"Authorization": f"Bearer {token}"})


def fully_healthy(api: Api, namespace: str, pods: Mapping[str, Object]) -> set[str]:
    """Rooms that some of `pods` reports in its own /v1/status with every stream Healthy; a pod
    that does not answer reports nothing."""
    rooms: set[str] = set()
    for pod in pods.values():
        ip = (pod.get("status") or {}).get("podIP")
        if not ip:
            continue
        try:
            with urllib.request.urlopen(status_request(api, namespace, ip),
                                        timeout=5) as response:
                document = json.load(response)
        except (OSError, ValueError, ApiError):
            continue
        for room in document.get("classrooms") or []:
            streams = room.get("streams") or []
            if streams and all(stream.get("state") == "Healthy" for stream in streams):
                rooms.add(room["name"])
    return rooms


def statefulsets(api: Api, pool: str) -> dict[str, Object]:
    listing = api.get(f"/apis/apps/v1/namespaces/{pool}/statefulsets?labelSelector={INFERENCE}")
    return {item["metadata"]["name"]: item for item in listing["items"]}


@dataclass
class Watcher:
    """Polls, from another thread, that every classroom is in some assignment file on a pod
    that is Ready, and that some Ready pod reports every stream of it Healthy. Pods are read
    before and after the files: the operator moves a room only to a pod already Ready and
    removes a pod only after its rooms left, so a room is fine if its pod is Ready in either
    read, whatever happened between them. The pods' own reports are read last: a room leaves
    its old pod only once its new pod reports it Healthy, so whichever file a pod read, one of
    them serves it."""

    api: Api
    namespace: str
    rooms: tuple[str, ...]
    looks: int = 0
    violations: list[str] = field(default_factory=list)
    unserved: list[str] = field(default_factory=list)
    overlaps: int = 0  # looks that found a room listed on two pods (a hand-over)
    handed_to: set[tuple[str, str]] = field(default_factory=set)  # hand-over records seen
    pools_seen: set[frozenset[str]] = field(default_factory=set)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> Watcher:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stop.is_set():
            # A look the API server could not answer proves nothing either way.
            with contextlib.suppress(ApiError, OSError):
                self.look()
            time.sleep(0.25)

    def look(self) -> None:
        before = ready_pods(self.api, self.namespace)
        files = assignments(self.api, self.namespace)
        self.handed_to |= handover_records(self.api, self.namespace)
        after = ready_pods(self.api, self.namespace)
        healthy = fully_healthy(self.api, self.namespace, after)
        self.pools_seen.add(frozenset(statefulsets(self.api, self.namespace)))
        self.looks += 1
        if any(len(files.get(name, [])) > 1 for name in self.rooms):
            self.overlaps += 1
        for name in self.rooms:
            pods = files.get(name, [])
            if not any(pod in before or pod in after for pod in pods):
                self.violations.append(f"look {self.looks}: {name} on {pods or 'no pod'}, "
                                       f"Ready: {sorted(set(before) | set(after))}")
            if name not in healthy:
                self.unserved.append(f"look {self.looks}: no Ready pod reports every stream of "
                                     f"{name} Healthy (listed on {pods or 'no pod'})")


"""A small stand-in for the cluster's side of a rollout, for pure unit tests of `plan_rollout`:
it keeps the objects the rollout writes, as the indexes would show them, and lets a test say
which pods are Ready, what they report serving, and which pods' streams are still connecting."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from classroom_operator.names import GPU_YIELD_ANNOTATION
from classroom_operator.rollout.planning import Cluster, Rollout
from classroom_operator.rollout.pod_reports import PodReport, StreamReport
from classroom_operator.rollout.pool_views import (
    HANDOVERS_ANNOTATION,
    PoolObject,
    ServingPod,
    StoredAssignment,
    pool_object,
    stored_assignment,
    yield_record,
)


@dataclass
class World:
    pools: dict[str, PoolObject] = field(default_factory=dict)
    assignments: dict[str, StoredAssignment] = field(default_factory=dict)
    ready: set[str] = field(default_factory=set)  # pod names
    # What each pod reports serving: the rooms of the assignment it last read.
    serving: dict[str, list[str]] = field(default_factory=dict)
    gpus: dict[str, int] = field(default_factory=dict)
    writes: list[str] = field(default_factory=list)
    # Pods whose streams are not Healthy yet, and the state they report instead.
    connecting: dict[str, str] = field(default_factory=dict)
    # Pods the scheduler finds no node for: since when, and its message.
    unschedulable: dict[str, tuple[float, str]] = field(default_factory=dict)

    def apply(self, rollout: Rollout) -> None:
        """Write what the rollout asks, in its order, as the operator's kube calls would."""
        for write in rollout.configmaps:
            existing = self.assignments.get(write.name)
            if write.create is not None:
                meta, data = write.create["metadata"], write.create["data"]
            else:
                assert existing is not None, f"patching missing ConfigMap {write.name}"
                meta = {"namespace": existing.namespace,
                        "labels": {"classroom-operator.io/pool": existing.pool,
                                   "classroom-operator.io/model": existing.model},
                        "annotations": {HANDOVERS_ANNOTATION: write.handovers}}
                data = {"assignment.json": write.text}
            self.assignments[write.name] = stored_assignment(meta, data)
            self.writes.append(f"configmap {write.name}")
        for sts in rollout.statefulsets:
            self.pools[sts["metadata"]["name"]] = pool_object(sts["metadata"], sts["spec"])
            self.writes.append(f"statefulset {sts['metadata']['name']}")
        for change in rollout.pool_patches:
            pool = self.pools[change.name]
            note = change.patch.get("metadata", {}).get("annotations", {}).get(
                GPU_YIELD_ANNOTATION)
            if note is not None:
                pool = replace(pool, gpu_yield=yield_record(note))
            if "spec" in change.patch:
                pool = replace(pool, replicas=change.patch["spec"]["replicas"])
            self.pools[change.name] = pool
            self.writes.append(f"patch {change.name}")
        for name in rollout.remove:
            self.pools.pop(name, None)
            self.assignments.pop(name, None)
            self.ready = {pod for pod in self.ready if not pod.startswith(f"{name}-")}
            self.serving = {pod: rooms for pod, rooms in self.serving.items()
                            if not pod.startswith(f"{name}-")}
            self.writes.append(f"remove {name}")

    def pod_names(self, pool: str) -> list[str]:
        return [f"{pool}-{i}" for i in range(self.pools[pool].replicas)]

    def start(self, *pools: str) -> None:
        """The pools' pods become Ready."""
        for pool in pools:
            self.ready.update(self.pod_names(pool))

    def read_assignments(self) -> None:
        """Every Ready pod takes the rooms its pool's file lists for it."""
        for name, stored in self.assignments.items():
            if name not in self.pools:
                continue
            for pod in self.pod_names(name):
                if pod in self.ready:
                    self.serving[pod] = sorted(r for r, p in stored.listed.items() if pod in p)

    def cluster(self, healthy: bool = True) -> Cluster:
        pods = [ServingPod(namespace="lincoln-high", name=pod, pool=pool.name, model=pool.model,
                           ready=pod in self.ready, ip=f"10.0.0.{i}",
                           waiting=f"Unschedulable: {self.unschedulable[pod][1]}"
                           if pod in self.unschedulable else "",
                           unschedulable_since=self.unschedulable[pod][0]
                           if pod in self.unschedulable else None)
                for pool in self.pools.values() for i, pod in enumerate(self.pod_names(pool.name))]
        reports: dict[str, PodReport | str] = {}
        for pod in pods:
            if pod.name not in self.ready:
                continue
            rooms = self.serving.get(pod.name, [])
            state = self.connecting.get(pod.name, "Healthy" if healthy else "Failed")
            streams = tuple(StreamReport(f"{room}-{i}", room, state)
                            for room in rooms for i in range(self._streams(room)))
            reports[pod.name] = PodReport(ready=True, fingerprint=None,
                                          classrooms=frozenset(rooms), streams=streams)
        return Cluster(pools=dict(self.pools), pods=pods, assignments=dict(self.assignments),
                       reports=reports, gpus=dict(self.gpus))

    def _streams(self, room: str) -> int:
        for stored in self.assignments.values():
            document: dict[str, Any] = json.loads(stored.text)
            for entries in document["pods"].values():
                for entry in entries:
                    if entry["name"] == room:
                        return len(entry["streams"])
        return 0

    def rooms_on(self, pool: str) -> set[str]:
        """Rooms the pool's file lists, on any of its pods."""
        stored = self.assignments.get(pool)
        return set(stored.listed) if stored else set()

    def handing_over(self, pool: str) -> set[str]:
        """Rooms the pool's file keeps for their hand-over to another pod."""
        stored = self.assignments.get(pool)
        return set(stored.handovers) if stored else set()

    def scaled(self, pool: str, replicas: int) -> None:
        self.pools[pool] = replace(self.pools[pool], replicas=replicas)

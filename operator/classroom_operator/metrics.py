"""The operator's Prometheus metrics, in a registry of their own (kept in kopf's memo).

The rollout's figures are per ClassroomModel (labels namespace and model), never per pod or
classroom: a district runs thousands of rooms, and a series per room would outgrow them all.
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "classroom_operator"
MODEL_LABELS = ("namespace", "model")
M = TypeVar("M", Gauge, Counter)


@dataclass(frozen=True)
class RolloutFigures:
    """One model's rollout after a pass."""

    pools: int
    pods_wanted: int
    pods_ready: int
    streams_assigned: int
    streams_healthy: int
    handovers: int  # classrooms listed on two pods while the new one connects their streams
    moves: Collection[tuple[str, str]]  # (classroom, pod) written in this pass


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Time to reconcile one ClassroomModel's engines (compute, writes and status).",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.node_pass_seconds = Histogram(
            f"{PREFIX}_node_change_builds_seconds",
            "Time from taking node changes to every build Job they need created (one pass "
            "serves a burst of node changes).",
            registry=self.registry,
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
        )
        self.builds_started = Counter(
            f"{PREFIX}_builds_started_total", "Build Jobs created, first attempts and retries.",
            ["gpu_class"], registry=self.registry,
        )
        self.builds_succeeded = Counter(
            f"{PREFIX}_builds_succeeded_total", "Builds that stored a validated engine.",
            ["gpu_class"], registry=self.registry,
        )
        self.builds_failed = Counter(
            f"{PREFIX}_builds_failed_total", "Build attempts that failed, by the builder's reason.",
            ["gpu_class", "reason"], registry=self.registry,
        )
        self.engines_ready = Gauge(
            f"{PREFIX}_engines_ready", "Engines ready, summed over ClassroomModels.",
            registry=self.registry,
        )
        self.engines_needed = Gauge(
            f"{PREFIX}_engines_needed", "Engines needed, summed over ClassroomModels.",
            registry=self.registry,
        )
        self.queue_depth = Gauge(
            f"{PREFIX}_queue_depth", "ClassroomModels woken and waiting for their reconcile.",
            registry=self.registry,
        )
        self.engines_collected = Counter(
            f"{PREFIX}_engines_collected_total",
            "Unused engines removed from the store after their grace period.",
            registry=self.registry,
        )
        self.api_requests = Counter(
            f"{PREFIX}_api_requests_total", "Writes and reads the operator made besides kopf's.",
            ["verb", "resource", "code"], registry=self.registry,
        )
        self.pools = self._per_model(
            Gauge, "pools", "Inference pools (StatefulSets) of a ClassroomModel.")
        self.pods_wanted = self._per_model(
            Gauge, "pods_wanted", "Inference pods a ClassroomModel's pools should run.")
        self.pods_ready = self._per_model(
            Gauge, "pods_ready", "Inference pods of a ClassroomModel that are Ready.")
        self.streams_assigned = self._per_model(
            Gauge, "streams_assigned", "Camera streams assigned to a ClassroomModel's pods.")
        self.streams_healthy = self._per_model(
            Gauge, "streams_healthy", "Assigned camera streams that a pod serving them reports "
            "Healthy.")
        self.handovers = self._per_model(
            Gauge, "handovers_in_progress", "Classrooms listed on their previous pod as well, "
            "until their new pod reports every stream Healthy.")
        self.classrooms_moved = self._per_model(
            Counter, "classrooms_moved", "Classrooms given to another pod (rollovers, resizing, "
            "rebalancing).")
        # The moves counted in each model's last pass: a pass that runs before the watch shows
        # the previous pass's writes plans the same moves again, and they must count once.
        self._last_moves: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}

    def _per_model(self, kind: type[M], name: str, text: str) -> M:
        return kind(f"{PREFIX}_{name}", text, MODEL_LABELS, registry=self.registry)

    def record_rollout(self, namespace: str, model: str, figures: RolloutFigures) -> None:
        for gauge, value in ((self.pools, figures.pools), (self.pods_wanted, figures.pods_wanted),
                             (self.pods_ready, figures.pods_ready),
                             (self.streams_assigned, figures.streams_assigned),
                             (self.streams_healthy, figures.streams_healthy),
                             (self.handovers, figures.handovers)):
            gauge.labels(namespace, model).set(value)
        moves = frozenset(figures.moves)
        fresh = moves - self._last_moves.get((namespace, model), frozenset())
        self.classrooms_moved.labels(namespace, model).inc(len(fresh))
        self._last_moves[(namespace, model)] = moves

    def forget_model(self, namespace: str, model: str) -> None:
        """Drop a model's series, once it is deleted or no longer reconciled here."""
        for metric in (self.pools, self.pods_wanted, self.pods_ready, self.streams_assigned,
                       self.streams_healthy, self.handovers, self.classrooms_moved):
            with contextlib.suppress(KeyError):  # never recorded: its spec was never usable
                metric.remove(namespace, model)
        self._last_moves.pop((namespace, model), None)

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)

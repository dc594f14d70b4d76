"""The operator's Prometheus metrics, in a registry of their own (kept in kopf's memo).

The rollout's figures are per ClassroomModel (labels namespace and model), never per pod or
classroom: a district runs thousands of rooms, and a series per room would outgrow them all.
The inference pods label their series with the same namespace and model, so alerts join them.
Only the leader (kopf peering) holds per-model series: a standby clears them, so a dashboard
summing over replicas never counts a model twice or shows a paused replica's stale figures.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "classroom_operator"
MODEL_LABELS = ("namespace", "model")
ENGINE_STATES = ("Pending", "Building", "Ready", "Failed")
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
        self.build_seconds = Histogram(
            f"{PREFIX}_build_duration_seconds", "Seconds a successful build took (the "
            "builder's own measure: fetch, precision, build, validation).", ["gpu_class"],
            registry=self.registry,
            buckets=(30, 60, 120, 300, 600, 900, 1200, 1800, 2700, 3600, 7200),
        )
        self.engines = Gauge(
            f"{PREFIX}_engines", "Engines a ClassroomModel needs, by state (Pending, Building, "
            "Ready, Failed).", [*MODEL_LABELS, "state"], registry=self.registry)
        self.oldest_build_started = self._per_model(
            Gauge, "oldest_build_start_timestamp_seconds", "Unix time this operator first saw "
            "the longest-running build of a ClassroomModel under way (absent when none runs).")
        self.builds_unschedulable = self._per_model(
            Gauge, "builds_unschedulable", "Build Jobs of a ClassroomModel whose pod the "
            "scheduler cannot place (no node of the GPU class has room).")
        self.max_latency = self._per_model(
            Gauge, "max_latency_seconds", "The ClassroomModel's spec.serving.maxLatencyMs, in "
            "seconds: the frame-to-label latency its pods must keep.")
        self.leader = Gauge(
            f"{PREFIX}_leader", "1 while this replica leads (kopf peering) and acts, 0 while it "
            "stands by.", registry=self.registry)
        self._per_model_series: tuple[Gauge | Counter, ...] = (
            self.pools, self.pods_wanted, self.pods_ready, self.streams_assigned,
            self.streams_healthy, self.handovers, self.classrooms_moved,
            self.oldest_build_started, self.builds_unschedulable, self.max_latency)
        # When this replica first saw each build under way, by model and fingerprint.
        self._builds_seen: dict[tuple[str, str], dict[str, float]] = {}
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

    def record_engines(self, namespace: str, model: str, engines: Iterable[tuple[str, str]],
                       now: float | None = None) -> None:
        """A model's engines after a pass, as (fingerprint, state). A build's start is when
        this replica first saw it Building (after a fail-over: when the new leader did)."""
        now = time.time() if now is None else now
        engines = list(engines)
        # The series exists (at 0) from the model's first pass; its setter gives the count.
        self.builds_unschedulable.labels(namespace, model)
        for state in ENGINE_STATES:
            self.engines.labels(namespace, model, state).set(
                sum(1 for _, s in engines if s == state))
        before = self._builds_seen.get((namespace, model), {})
        seen = {fingerprint: before.get(fingerprint, now) for fingerprint, state in engines
                if state == "Building"}
        self._builds_seen[(namespace, model)] = seen
        if seen:
            self.oldest_build_started.labels(namespace, model).set(min(seen.values()))
        else:
            with contextlib.suppress(KeyError):
                self.oldest_build_started.remove(namespace, model)

    def set_builds_unschedulable(self, namespace: str, model: str, count: int) -> None:
        """How many of a model's build Jobs cannot be scheduled right now (0 when none)."""
        self.builds_unschedulable.labels(namespace, model).set(count)

    def set_max_latency(self, namespace: str, model: str, max_latency_ms: int) -> None:
        self.max_latency.labels(namespace, model).set(max_latency_ms / 1000)

    def set_leader(self, leading: bool) -> None:
        """Record whether this replica leads; a standby drops every model's series."""
        self.leader.set(1 if leading else 0)
        if not leading:
            for metric in (*self._per_model_series, self.engines):
                metric.clear()
            self._last_moves.clear()
            self._builds_seen.clear()

    def forget_model(self, namespace: str, model: str) -> None:
        """Drop a model's series, once it is deleted or no longer reconciled here."""
        for metric in self._per_model_series:
            with contextlib.suppress(KeyError):  # never recorded: its spec was never usable
                metric.remove(namespace, model)
        for state in ENGINE_STATES:
            with contextlib.suppress(KeyError):
                self.engines.remove(namespace, model, state)
        self._last_moves.pop((namespace, model), None)
        self._builds_seen.pop((namespace, model), None)

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)

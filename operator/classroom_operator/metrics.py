"""The operator's Prometheus metrics, in a registry of their own (kept in kopf's memo)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

PREFIX = "classroom_operator"


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.reconcile_seconds = Histogram(
            f"{PREFIX}_reconcile_duration_seconds",
            "Time to reconcile one ClassroomModel's engines (compute, writes and status).",
            registry=self.registry,
            buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
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

    def serve(self, address: str, port: int) -> None:
        start_http_server(port, addr=address, registry=self.registry)

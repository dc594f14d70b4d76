"""The operator's live state, created at startup and kept in kopf's memo, not module globals."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from classroom_operator.inventory import NodeGpu
from classroom_operator.kube import Kube
from classroom_operator.metrics import Metrics
from classroom_operator.rollout_pass import PodClient
from classroom_operator.settings import Settings

ModelKey = tuple[str, str]


class Wakeups:
    """One event per ClassroomModel's engine loop; setting it makes that model reconcile now.

    kopf cannot ask for another object's handlers to run. Patching an annotation on every
    affected ClassroomModel would cost a write (and a watch event) per model per node change,
    which at a thousand models is a storm; an in-process event per model costs nothing, and the
    engine loop of each model (a kopf daemon, leader-only under peering) re-reads the indexes.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._events: dict[ModelKey, asyncio.Event] = {}
        self._metrics = metrics

    def register(self, key: ModelKey) -> asyncio.Event:
        event = self._events.setdefault(key, asyncio.Event())
        return event

    def unregister(self, key: ModelKey) -> None:
        self._events.pop(key, None)
        self._update_depth()

    def wake(self, keys: Iterable[ModelKey]) -> None:
        for key in keys:
            event = self._events.get(key)
            if event is not None:
                event.set()
        self._update_depth()

    def done(self, key: ModelKey) -> None:
        event = self._events.get(key)
        if event is not None:
            event.clear()
        self._update_depth()

    def _update_depth(self) -> None:
        self._metrics.queue_depth.set(sum(1 for e in self._events.values() if e.is_set()))


class RecentWrites:
    """Writes made moments ago that the watches may not show yet.

    A thousand engine loops share one process and one view of the cluster: when twenty models
    need the same new engine, all twenty see it missing until the watch brings the first write
    back. The first loop claims the write; the others skip it while the claim is fresh. A claim
    that fails is dropped so the next pass writes again.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._claims: dict[str, tuple[str, float]] = {}

    def claim(self, key: str, value: str = "") -> bool:
        now = time.monotonic()
        held = self._claims.get(key)
        if held is not None and held[0] == value and now - held[1] < self.ttl:
            return False
        if len(self._claims) > 4096:
            self._claims = {k: v for k, v in self._claims.items() if now - v[1] < self.ttl}
        self._claims[key] = (value, now)
        return True

    def drop(self, key: str) -> None:
        self._claims.pop(key, None)


@dataclass
class OperatorState:
    settings: Settings
    kube: Kube
    metrics: Metrics
    wakeups: Wakeups
    catalogue_uid: str | None = None
    recent: RecentWrites = field(default_factory=RecentWrites)
    # The last snapshot of each node, to tell a change that matters from GFD's heartbeats.
    nodes: dict[str, NodeGpu] = field(default_factory=dict)
    # Engines ready and needed per model, summed into the gauges.
    engine_counts: dict[ModelKey, tuple[int, int]] = field(default_factory=dict)
    # Engines being collected right now, so concurrent engine loops start one cleanup each.
    collecting: set[str] = field(default_factory=set)
    # Build Jobs whose outcome the counters already hold (by uid), so each counts once.
    counted_jobs: set[str] = field(default_factory=set)
    # The HTTP client that reads the inference pods' /v1/status.
    pods: PodClient = field(default_factory=PodClient)

    def set_engine_counts(self, key: ModelKey, ready: int, needed: int) -> None:
        self.engine_counts[key] = (ready, needed)
        self._update_gauges()

    def forget(self, key: ModelKey) -> None:
        self.engine_counts.pop(key, None)
        self._update_gauges()
        self.metrics.forget_model(*key)

    def _update_gauges(self) -> None:
        self.metrics.engines_ready.set(sum(r for r, _ in self.engine_counts.values()))
        self.metrics.engines_needed.set(sum(n for _, n in self.engine_counts.values()))

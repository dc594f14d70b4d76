"""Prometheus metrics of one pod: per-stage latency histograms and readings of every component.

Histograms are filled a batch at a time with numpy (a pod labels tens of thousands of crops a
second; one Python call per crop would cost more than the analysis). Counters and gauges are read
from the components when Prometheus scrapes, so the hot path pays nothing for them.
Every series carries `namespace`, `model` and `fingerprint`; `namespace` and `model` are the
ClassroomModel's, as the operator labels its per-model series, so the two join in PromQL.
Per-classroom series add `classroom`, never a stream or a student, which would multiply series
by the thousands.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import numpy as np
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# crop: from the frame leaving the decoder to its crop written into a batch buffer; queue: from
# there to the engine; infer: submit to collect; analyse: a batch's analysis, per crop; label:
# from the frame leaving the decoder to its label.
STAGES = ("crop", "queue", "infer", "analyse", "label")
SECONDS_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25,
                   0.5, 1.0, 2.5)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class BulkHistogram:
    """A histogram, optionally over one label, whose observations arrive as arrays."""

    def __init__(self, name: str, documentation: str, buckets: tuple[float, ...],
                 label: str | None = None, values: Iterable[str] = ("",)) -> None:
        self.name = name
        self.documentation = documentation
        self.label = label
        self.buckets = np.array(buckets, dtype=np.float64)
        self._counts = {v: np.zeros(len(buckets) + 1, np.int64) for v in values}
        self._sums = dict.fromkeys(self._counts, 0.0)
        self._lock = threading.Lock()

    def observe(self, values: np.ndarray | float, value_of_label: str = "") -> None:
        values = np.atleast_1d(np.asarray(values, dtype=np.float64))
        if values.size == 0:
            return
        # side="left": a value equal to a bound falls in that bound's bucket (le = "<=").
        slots = np.searchsorted(self.buckets, values, side="left")
        counts = np.bincount(slots, minlength=len(self.buckets) + 1)
        with self._lock:
            self._counts[value_of_label] += counts
            self._sums[value_of_label] += float(values.sum())

    def observe_repeated(self, value: float, count: int, value_of_label: str = "") -> None:
        """`count` observations of one value (a batch's crops sharing one batch's time)."""
        slot = int(np.searchsorted(self.buckets, value, side="left"))
        with self._lock:
            self._counts[value_of_label][slot] += count
            self._sums[value_of_label] += value * count

    def family(self, labels: dict[str, str]) -> HistogramMetricFamily:
        extra = [self.label] if self.label else []
        family = HistogramMetricFamily(self.name, self.documentation, labels=[*labels, *extra])
        with self._lock:
            for value, counts in self._counts.items():
                cumulative = np.cumsum(counts)
                buckets = [(_bound(b), float(c)) for b, c in
                           zip(self.buckets.tolist(), cumulative[:-1].tolist(), strict=True)]
                buckets.append(("+Inf", float(cumulative[-1])))
                family.add_metric([*labels.values(), *([value] if extra else [])], buckets,
                                  self._sums[value])
        return family


def model_labels(reference: str) -> tuple[str, str]:
    """The assignment's "namespace/name" as the labels (namespace, model); both empty before
    an assignment names the model."""
    namespace, _, name = reference.rpartition("/")
    return namespace, name


def _bound(value: float) -> str:
    return f"{value:g}"


@dataclass(frozen=True)
class Reading:
    """One counter or gauge value as a component reports it at scrape time."""

    name: str
    kind: str  # "counter" | "gauge"
    documentation: str
    value: float
    labels: tuple[tuple[str, str], ...] = ()


class _Readings(Collector):
    def __init__(self, metrics: PodMetrics) -> None:
        self._metrics = metrics

    def collect(self) -> Iterator[Metric]:
        constant = self._metrics.constant_labels()
        yield self._metrics.stages.family(constant)
        yield self._metrics.batch_sizes.family(constant)
        families: dict[str, CounterMetricFamily | GaugeMetricFamily] = {}
        for r in self._metrics.read():
            family = families.get(r.name)
            if family is None:
                names = [*constant, *(k for k, _ in r.labels)]
                cls = CounterMetricFamily if r.kind == "counter" else GaugeMetricFamily
                family = families[r.name] = cls(r.name, r.documentation, labels=names)
            family.add_metric([*constant.values(), *(v for _, v in r.labels)], r.value)
        yield from families.values()


class PodMetrics:
    """The pod's registry. `read` returns the components' readings when Prometheus scrapes."""

    def __init__(self, read: Callable[[], list[Reading]], *, model: str, fingerprint: str) -> None:
        self.model = model
        self.fingerprint = fingerprint
        self.read = read
        self.stages = BulkHistogram(
            "classroom_stage_seconds", "Seconds per crop spent in each serving stage",
            SECONDS_BUCKETS, "stage", STAGES)
        self.batch_sizes = BulkHistogram(
            "classroom_batch_size", "Crops per engine batch (before padding)", BATCH_BUCKETS)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Readings(self))

    def constant_labels(self) -> dict[str, str]:
        namespace, model = model_labels(self.model)
        return {"namespace": namespace, "model": model, "fingerprint": self.fingerprint}

    def render(self) -> bytes:
        return generate_latest(self.registry)

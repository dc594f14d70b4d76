"""The operator's gauges for the alerts: engines by state and the oldest build, unschedulable
builds, each model's latency budget, and the leader gauge that clears a standby's series."""

from __future__ import annotations

from classroom_operator.metrics import Metrics, RolloutFigures

MODEL = {"namespace": "school", "model": "attention"}


def _value(metrics: Metrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(f"classroom_operator_{name}", labels)


def test_engines_are_counted_by_state_and_the_oldest_build_keeps_its_start() -> None:
    metrics = Metrics()
    metrics.record_engines("school", "attention", [("a", "Building"), ("b", "Ready")], now=100)
    metrics.record_engines("school", "attention",
                           [("a", "Building"), ("b", "Ready"), ("c", "Building")], now=160)
    assert _value(metrics, "engines", **MODEL, state="Building") == 2
    assert _value(metrics, "engines", **MODEL, state="Ready") == 1
    assert _value(metrics, "engines", **MODEL, state="Failed") == 0
    # a was first seen building at 100: that is the oldest start, not the latest pass.
    assert _value(metrics, "oldest_build_start_timestamp_seconds", **MODEL) == 100
    metrics.record_engines("school", "attention", [("a", "Ready"), ("c", "Building")], now=200)
    assert _value(metrics, "oldest_build_start_timestamp_seconds", **MODEL) == 160
    metrics.record_engines("school", "attention", [("a", "Ready"), ("c", "Failed")], now=300)
    assert _value(metrics, "oldest_build_start_timestamp_seconds", **MODEL) is None
    # A build that starts again later is a new build: its own start.
    metrics.record_engines("school", "attention", [("c", "Building")], now=400)
    assert _value(metrics, "oldest_build_start_timestamp_seconds", **MODEL) == 400


def test_unschedulable_builds_and_latency_budget_are_per_model() -> None:
    metrics = Metrics()
    metrics.set_builds_unschedulable("school", "attention", 2)
    metrics.set_max_latency("school", "attention", 250)
    assert _value(metrics, "builds_unschedulable", **MODEL) == 2
    assert _value(metrics, "max_latency_seconds", **MODEL) == 0.25


def _record_everything(metrics: Metrics) -> None:
    metrics.record_rollout("school", "attention", RolloutFigures(
        pools=1, pods_wanted=1, pods_ready=1, streams_assigned=3, streams_healthy=3,
        handovers=0, moves=[]))
    metrics.record_engines("school", "attention", [("a", "Building")], now=1)
    metrics.set_builds_unschedulable("school", "attention", 1)
    metrics.set_max_latency("school", "attention", 100)


def _per_model_samples(metrics: Metrics) -> list[str]:
    return [sample.name for family in metrics.registry.collect() for sample in family.samples
            if sample.labels.get("model") == "attention"]


def test_a_standby_exports_no_per_model_series() -> None:
    metrics = Metrics()
    _record_everything(metrics)
    metrics.set_leader(True)
    assert _value(metrics, "leader") == 1
    assert len(_per_model_samples(metrics)) >= 10
    metrics.set_leader(False)
    assert _value(metrics, "leader") == 0
    assert _per_model_samples(metrics) == []
    # Leading again, the next passes record afresh.
    metrics.set_leader(True)
    _record_everything(metrics)
    assert _value(metrics, "oldest_build_start_timestamp_seconds", **MODEL) == 1


def test_a_forgotten_model_leaves_no_series() -> None:
    metrics = Metrics()
    _record_everything(metrics)
    metrics.forget_model("school", "attention")
    assert _per_model_samples(metrics) == []

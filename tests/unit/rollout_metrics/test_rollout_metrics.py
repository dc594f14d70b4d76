"""The rollout's figures on the operator's /metrics: per model, never per pod or classroom,
moves counted once, and a model's series gone with the model."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from classroom_operator.metrics import Metrics, RolloutFigures
from prometheus_client import generate_latest
from unit.rollout_metrics.conftest import Sample

BASE = RolloutFigures(pools=2, pods_wanted=3, pods_ready=2, streams_assigned=12,
                      streams_healthy=11, handovers=1, moves=())


def _figures(**changes: Any) -> RolloutFigures:
    return replace(BASE, **changes)


def test_each_model_has_its_own_figures(metrics: Metrics, sample: Sample) -> None:
    metrics.record_rollout("lincoln-high", "attention", _figures())
    metrics.record_rollout("roosevelt-middle", "emotion", _figures(pools=1, streams_healthy=4))
    assert [sample(name) for name in ("pools", "pods_wanted", "pods_ready", "streams_assigned",
                                      "streams_healthy", "handovers_in_progress")] == \
        [2, 3, 2, 12, 11, 1]
    assert sample("pools", "roosevelt-middle", "emotion") == 1
    assert sample("streams_healthy", "roosevelt-middle", "emotion") == 4
    # The next pass replaces the values, it does not add to them.
    metrics.record_rollout("lincoln-high", "attention", _figures(pods_ready=3, handovers=0))
    assert (sample("pods_ready"), sample("handovers_in_progress")) == (3, 0)


def test_series_carry_no_pod_or_classroom_label(metrics: Metrics) -> None:
    metrics.record_rollout("lincoln-high", "attention", _figures(
        moves=(("room-101", "attention-cccc0000-0"), ("room-102", "attention-cccc0000-1"))))
    exposed = generate_latest(metrics.registry).decode()
    rollout_lines = [line for line in exposed.splitlines()
                     if "lincoln-high" in line and not line.startswith("#")]
    assert len(rollout_lines) == 8  # six gauges, the counter and its creation time
    assert not any("room-" in line or "attention-cccc" in line for line in rollout_lines)


def test_a_move_is_counted_once_however_often_a_pass_plans_it(
        metrics: Metrics, sample: Sample) -> None:
    first = (("room-101", "attention-cccc0000-0"), ("room-102", "attention-cccc0000-0"))
    metrics.record_rollout("lincoln-high", "attention", _figures(moves=first))
    assert sample("classrooms_moved_total") == 2
    # The watch has not shown the written files yet: the same moves are planned again.
    metrics.record_rollout("lincoln-high", "attention", _figures(moves=first))
    assert sample("classrooms_moved_total") == 2
    # Then one more room moves beside them, and later one moves back.
    metrics.record_rollout("lincoln-high", "attention", _figures(
        moves=(*first, ("room-103", "attention-cccc0000-0"))))
    assert sample("classrooms_moved_total") == 3
    metrics.record_rollout("lincoln-high", "attention", _figures())
    metrics.record_rollout("lincoln-high", "attention", _figures(
        moves=(("room-101", "attention-aaaa0000-0"),)))
    assert sample("classrooms_moved_total") == 4
    # Another model's moves are its own.
    metrics.record_rollout("lincoln-high", "emotion", _figures(moves=first))
    assert sample("classrooms_moved_total", model="emotion") == 2


def test_a_forgotten_model_leaves_no_series(metrics: Metrics, sample: Sample) -> None:
    moves = (("room-101", "attention-cccc0000-0"),)
    metrics.record_rollout("lincoln-high", "attention", _figures(moves=moves))
    metrics.record_rollout("lincoln-high", "emotion", _figures())
    metrics.forget_model("lincoln-high", "attention")
    assert sample("pools") is None and sample("classrooms_moved_total") is None
    assert sample("pools", model="emotion") == 2
    metrics.forget_model("lincoln-high", "attention")  # twice, or never recorded: no error
    metrics.forget_model("washington-elementary", "attention")
    # Recreated under the same name, it starts afresh and counts the same moves again.
    metrics.record_rollout("lincoln-high", "attention", _figures(moves=moves))
    assert sample("classrooms_moved_total") == 1

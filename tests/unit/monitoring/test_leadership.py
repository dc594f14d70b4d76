"""The leader gauge follows kopf's peering rule, read from the ClusterKopfPeering's status."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import kopf
from classroom_operator.leadership import PEERINGS, follow_leadership, leads
from classroom_operator.metrics import Metrics, RolloutFigures

NOW = datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def _peer(priority: int, seen_ago: float = 1, lifetime: int = 20) -> dict[str, Any]:
    return {"priority": priority, "lifetime": lifetime,
            "lastseen": (NOW - timedelta(seconds=seen_ago)).isoformat()}


def test_the_highest_live_priority_leads() -> None:
    peers = {"a": _peer(10), "b": _peer(7)}
    assert leads(peers, 10, NOW)
    assert not leads(peers, 7, NOW)


def test_a_dead_peer_does_not_count() -> None:
    peers = {"a": _peer(10, seen_ago=30), "b": _peer(7)}
    assert leads(peers, 7, NOW)


def test_equal_priorities_pause_both_and_an_absent_replica_does_not_lead() -> None:
    assert not leads({"a": _peer(5), "b": _peer(5)}, 5, NOW)
    assert not leads({"a": _peer(10)}, 7, NOW)
    assert not leads({}, 7, NOW)


async def test_losing_the_lead_clears_the_model_series_and_a_failed_read_keeps_it() -> None:
    metrics = Metrics()
    def live(priority: int) -> dict[str, Any]:
        return {"priority": priority, "lifetime": 60, "lastseen": datetime.now(UTC).isoformat()}

    answers: list[Any] = [
        {"status": {"me": live(10), "other": live(7)}},
        kopf.TemporaryError("GET: HTTP 503"),
        {"status": {"me": live(10), "other": live(12)}},
    ]
    asked: list[str] = []
    seen: list[float | None] = []

    async def get(path: str) -> dict[str, Any] | None:
        asked.append(path)
        seen.append(metrics.registry.get_sample_value("classroom_operator_leader"))
        if not answers:
            raise asyncio.CancelledError
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        metrics.record_rollout("school", "attention", RolloutFigures(1, 1, 1, 1, 1, 0, []))
        return dict(answer)

    task = asyncio.create_task(follow_leadership(get, metrics, peering="classroom",
                                                 priority=10, period=0))
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert asked[0] == PEERINGS.format(name="classroom")
    # Before any read: not leading; after the first: leader; the failed read kept it.
    assert seen == [0, 1, 1, 0]
    assert metrics.registry.get_sample_value("classroom_operator_leader") == 0
    assert metrics.registry.get_sample_value(
        "classroom_operator_pools", {"namespace": "school", "model": "attention"}) is None

"""The rollout's part of a model's status beside the engines': Ready only once pods serve."""

from __future__ import annotations

from datetime import UTC, datetime

from classroom_operator.conditions import Condition
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.status import RolloutStatus, model_status

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
READY = [EngineRecord(fingerprint="aaaa000000000000", gpu_class="cpu", backend="onnxruntime-cpu",
                      state="Ready")]


def _serving(rolled: str, reason: str) -> RolloutStatus:
    return RolloutStatus(
        fields={"pools": [{"gpuClass": "cpu", "replicas": 2, "readyReplicas": 1}],
                "streams": {"assigned": 4, "healthy": 3}, "podsReady": 1, "podsWanted": 2},
        conditions=(Condition("RolledOut", rolled, reason, "pool attention-aaaa0000: 1/2"),
                    Condition("StreamsHealthy", "False", "StreamsUnhealthy", "3 of 4")),
        summary={"pods": "1/2", "streams": "3/4"})


def test_engines_ready_but_pods_not_yet_is_still_building() -> None:
    status = model_status(READY, InventoryView(), previous={}, generation=3, spec_error=None,
                          now=NOW, serving=_serving("False", "PodsNotReady"))
    assert status["phase"] == "Building"
    assert status["summary"] == {"engines": "1/1", "pods": "1/2", "streams": "3/4", "build": ""}
    assert status["streams"] == {"assigned": 4, "healthy": 3}
    assert (status["podsReady"], status["podsWanted"]) == (1, 2)
    kinds = [c["type"] for c in status["conditions"]]
    assert kinds == ["Ready", "EnginesReady", "Validated", "RolledOut", "StreamsHealthy",
                     "Degraded"]
    rolled = next(c for c in status["conditions"] if c["type"] == "RolledOut")
    assert (rolled["status"], rolled["reason"], rolled["observedGeneration"]) == \
        ("False", "PodsNotReady", 3)


def test_ready_once_rolled_out() -> None:
    status = model_status(READY, InventoryView(), previous={}, generation=3, spec_error=None,
                          now=NOW, serving=_serving("True", "RolledOut"))
    assert status["phase"] == "Ready"


def test_a_spec_the_rollout_cannot_use_leaves_its_status_alone() -> None:
    before = model_status(READY, InventoryView(), previous={}, generation=3, spec_error=None,
                          now=NOW, serving=_serving("True", "RolledOut"))
    after = model_status(READY, InventoryView(), previous=before, generation=4,
                         spec_error="spec.sink.webhook.url: 'ftp://x' is not an https or http "
                                    "URL", now=NOW)
    assert after["phase"] == "Failed"
    assert "pools" not in after and "streams" not in after
    assert after["summary"]["pods"] == "1/2"
    rolled = next(c for c in after["conditions"] if c["type"] == "RolledOut")
    assert rolled["observedGeneration"] == 3

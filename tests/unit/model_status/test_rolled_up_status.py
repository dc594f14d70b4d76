"""The rolled-up Ready condition, refused writes and a failing sink in a model's status."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from classroom_operator.conditions import Condition
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord
from classroom_operator.status import (
    RefusedWrite,
    RolloutStatus,
    model_status,
    ready_condition,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)
READY = [EngineRecord(fingerprint="aaaa000000000000", gpu_class="cpu", backend="onnxruntime-cpu",
                      state="Ready")]
BUILDING = [EngineRecord(fingerprint="aaaa000000000000", gpu_class="cpu",
                         backend="onnxruntime-cpu", state="Building")]


def _rollout(*conditions: Condition, pods_ready: int = 1) -> RolloutStatus:
    return RolloutStatus(fields={"pools": [], "streams": {"assigned": 2, "healthy": 2},
                                 "podsReady": pods_ready, "podsWanted": 1},
                         conditions=conditions, summary={"pods": f"{pods_ready}/1"})


ROLLED = Condition("RolledOut", "True", "RolledOut", "1 pods ready in 1 pools serve 1 classrooms")
HEALTHY = Condition("StreamsHealthy", "True", "AllHealthy", "2 of 2 streams healthy")
SINK_OK = Condition("SinkHealthy", "True", "Delivering", "1 pod delivers")


def _condition(status: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == kind)


def test_ready_when_engines_rollout_and_streams_are_and_nothing_is_degraded() -> None:
    status = model_status(READY, InventoryView(), previous={}, generation=2, spec_error=None,
                          now=NOW, serving=_rollout(ROLLED, HEALTHY, SINK_OK))
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["reason"], ready["observedGeneration"]) == \
        ("True", "Serving", 2)
    assert status["phase"] == "Ready"


def test_not_ready_while_building_names_the_first_blocking_condition() -> None:
    status = model_status(BUILDING, InventoryView(), previous={}, generation=1, spec_error=None,
                          now=NOW, serving=_rollout(
                              Condition("RolledOut", "False", "WaitingForEngines", "no engine"),
                              Condition("StreamsHealthy", "Unknown", "NoStreams", "none")))
    ready = _condition(status, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "Building")
    assert ready["message"].startswith("EnginesReady: 0 of 1 engines ready")


@pytest.mark.parametrize(("conditions", "reason"), [
    ([Condition("Degraded", "True", "BuildFailed", "x"), Condition("EnginesReady", "False",
      "BuildFailed", "x"), ROLLED, HEALTHY], "BuildFailed"),
    ([Condition("Degraded", "False", "AsExpected", ""), Condition("EnginesReady", "True", "", ""),
      Condition("RolledOut", "False", "PodsNotReady", "1/2"), HEALTHY], "PodsNotReady"),
    ([Condition("Degraded", "False", "AsExpected", ""), Condition("EnginesReady", "True", "", ""),
      ROLLED, Condition("StreamsHealthy", "False", "StreamsUnhealthy", "1 of 2")],
     "StreamsUnhealthy"),
    ([Condition("Degraded", "False", "AsExpected", ""), Condition("EnginesReady", "True", "", ""),
      HEALTHY], "RolledOutUnknown"),
])
def test_ready_is_false_with_the_blocking_reason(conditions: list[Condition],
                                                 reason: str) -> None:
    ready = ready_condition(conditions)
    assert (ready.status, ready.reason) == ("False", reason)


def test_a_model_with_no_classroom_is_ready_with_nothing_to_serve() -> None:
    ready = ready_condition([
        Condition("Degraded", "False", "AsExpected", ""), Condition("EnginesReady", "True", "", ""),
        Condition("RolledOut", "True", "NoClassrooms", "no classroom"),
        Condition("StreamsHealthy", "Unknown", "NoStreams", "none")])
    assert (ready.status, ready.reason) == ("True", "NoClassrooms")
    # Streams not reported while classrooms exist still block.
    blocked = ready_condition([
        Condition("Degraded", "False", "AsExpected", ""), Condition("EnginesReady", "True", "", ""),
        ROLLED, Condition("StreamsHealthy", "Unknown", "NoStreams", "none")])
    assert (blocked.status, blocked.reason) == ("False", "NoStreams")


def test_a_refused_write_degrades_the_model_with_the_api_servers_message() -> None:
    refused = RefusedWrite("StatefulSet ns/attention-aaaa0000", 422,
                           "StatefulSet.apps \"attention-aaaa0000\" is invalid: spec.template."
                           "spec.containers[0].resources.requests: Invalid value: \"2\": must be "
                           "less than or equal to cpu limit of 1" + " and more" * 100)
    status = model_status(READY, InventoryView(), previous={}, generation=1, spec_error=None,
                          now=NOW, serving=_rollout(
                              Condition("RolledOut", "False", "PodsNotReady", "0/1"),
                              Condition("StreamsHealthy", "False", "StreamsUnhealthy", "0 of 2"),
                              pods_ready=0), refused=[refused])
    degraded = _condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "WriteRefused")
    assert "StatefulSet ns/attention-aaaa0000: HTTP 422" in degraded["message"]
    assert "must be less than or equal to cpu limit of 1" in degraded["message"]
    assert len(degraded["message"]) < 600  # trimmed
    assert status["phase"] == "Failed"  # nothing serves
    assert _condition(status, "Ready")["reason"] == "WriteRefused"


def test_a_refused_write_while_pods_serve_is_degraded_not_failed() -> None:
    status = model_status(READY, InventoryView(), previous={}, generation=1, spec_error=None,
                          now=NOW, serving=_rollout(ROLLED, HEALTHY, SINK_OK),
                          refused=[RefusedWrite("ConfigMap ns/x", 403, "forbidden")])
    assert status["phase"] == "Degraded"


def test_a_failing_sink_degrades_the_model_and_blocks_ready() -> None:
    failing = Condition("SinkHealthy", "False", "SinkFailing", "pod p-0: ClientConnectorError")
    status = model_status(READY, InventoryView(), previous={}, generation=1, spec_error=None,
                          now=NOW, serving=_rollout(ROLLED, HEALTHY, failing))
    degraded = _condition(status, "Degraded")
    assert (degraded["status"], degraded["reason"]) == ("True", "SinkFailing")
    assert "ClientConnectorError" in degraded["message"]
    assert _condition(status, "Ready")["status"] == "False"
    assert status["phase"] == "Degraded"

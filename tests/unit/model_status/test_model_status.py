"""status computed fresh: phase, conditions with observedGeneration and stable transition
times, printer-column counts, and a patch of only what changed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord, record_from_status
from classroom_operator.status import model_status, phase_of, status_patch

Records = Callable[..., EngineRecord]


def _conditions(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in status["conditions"]}


@pytest.mark.parametrize(("states", "phase"), [
    ([], "Pending"), (["Building"], "Building"), (["Ready", "Pending"], "Building"),
    (["Ready", "Ready"], "Ready"), (["Ready", "Failed"], "Degraded"), (["Failed"], "Failed"),
])
def test_phase(record: Records, states: list[str], phase: str) -> None:
    assert phase_of([record(s, fingerprint=str(i)) for i, s in enumerate(states)], None) == phase


def test_invalid_spec_fails_whatever_the_engines(record: Records) -> None:
    assert phase_of([record("Ready")], "spec.model.sha256: bad") == "Failed"


def test_all_ready(record: Records, now: datetime) -> None:
    status = model_status([record("Ready", "a"), record("Ready", "b")], InventoryView(),
                          previous={}, generation=4, spec_error=None, now=now)
    conditions = _conditions(status)
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == 4
    assert (status["enginesReady"], status["enginesNeeded"]) == (2, 2)
    assert status["summary"]["engines"] == "2/2"
    assert conditions["EnginesReady"]["status"] == "True"
    assert conditions["Validated"]["status"] == "True"
    assert conditions["Degraded"]["status"] == "False"
    assert all(c["observedGeneration"] == 4 for c in conditions.values())
    assert "RolledOut" not in conditions


def test_failed_build_condition_quotes_the_builder(record: Records, now: datetime) -> None:
    failed = record("Failed", reason="ChecksumMismatch", message="sha256 of the model differs")
    conditions = _conditions(model_status([failed], InventoryView(), previous={}, generation=1,
                                          spec_error=None, now=now))
    assert conditions["EnginesReady"]["reason"] == "BuildFailed"
    assert "ChecksumMismatch: sha256 of the model differs" in conditions["EnginesReady"]["message"]
    assert conditions["Degraded"]["status"] == "True"


def test_validation_failure_is_its_own_condition(record: Records, now: datetime) -> None:
    failed = record("Failed", reason="ValidationFailed", message="attention MAE 0.2 > 0.05")
    conditions = _conditions(model_status([failed], InventoryView(), previous={}, generation=1,
                                          spec_error=None, now=now))
    assert conditions["Validated"]["status"] == "False"
    assert conditions["Validated"]["reason"] == "ValidationFailed"


def test_retrying_build_says_why(record: Records, now: datetime) -> None:
    retrying = record("Building", reason="FetchFailed", message="attempt 1 of 3 failed")
    conditions = _conditions(model_status([retrying], InventoryView(), previous={},
                                          generation=1, spec_error=None, now=now))
    assert conditions["EnginesReady"]["reason"] == "BuildRetrying"
    assert "FetchFailed" in conditions["EnginesReady"]["message"]


def test_no_nodes_and_settling_nodes_are_explained(now: datetime) -> None:
    view = InventoryView(settling=("gpu-7",), incomplete=("gpu-9",))
    conditions = _conditions(model_status([], view, previous={}, generation=1, spec_error=None,
                                          now=now))
    assert conditions["EnginesReady"]["reason"] == "NoNodes"
    assert "gpu-7" in conditions["EnginesReady"]["message"]
    assert conditions["Degraded"]["reason"] == "IncompleteGpuLabels"
    assert "gpu-9" in conditions["Degraded"]["message"]


def test_transition_time_kept_while_status_holds(record: Records, now: datetime) -> None:
    first = model_status([record("Building")], InventoryView(), previous={}, generation=1,
                         spec_error=None, now=now)
    later = now + timedelta(minutes=5)
    same = model_status([record("Building")], InventoryView(), previous=first, generation=1,
                        spec_error=None, now=later)
    assert same == first
    assert status_patch(first, same) == {}
    done = model_status([record("Ready")], InventoryView(), previous=first, generation=1,
                        spec_error=None, now=later)
    stamp = later.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert _conditions(done)["EnginesReady"]["lastTransitionTime"] == stamp
    assert _conditions(done)["Degraded"]["lastTransitionTime"] == \
        _conditions(first)["Degraded"]["lastTransitionTime"]


def test_conditions_of_the_rollout_are_left_alone(record: Records, now: datetime) -> None:
    rolled = {"type": "RolledOut", "status": "True", "reason": "AllPools", "message": "m",
              "observedGeneration": 1, "lastTransitionTime": "2026-11-25T00:00:00Z"}
    status = model_status([record("Ready")], InventoryView(),
                          previous={"conditions": [rolled], "summary": {"pods": "2/2"}},
                          generation=1, spec_error=None, now=now)
    assert _conditions(status)["RolledOut"] == rolled
    assert status["summary"] == {"pods": "2/2", "engines": "1/1", "build": ""}


def test_patch_holds_only_changed_fields(record: Records, now: datetime) -> None:
    live = model_status([record("Building")], InventoryView(), previous={}, generation=1,
                        spec_error=None, now=now)
    live["pools"] = [{"gpuClass": "cpu"}]
    desired = model_status([record("Ready")], InventoryView(), previous=live, generation=1,
                           spec_error=None, now=now)
    patch = status_patch(live, desired)
    assert set(patch) == {"phase", "conditions", "engines", "enginesReady", "summary"}


def test_engine_records_round_trip_through_status(record: Records) -> None:
    original = EngineRecord(fingerprint="0123456789abcdef", gpu_class="cpu",
                            backend="onnxruntime-cpu", state="Failed", reason="InvalidModel",
                            message="no input named input", attempts=2,
                            figures={"buildSeconds": 1.5})
    assert record_from_status(original.to_status()) == original
    assert original.to_status()["message"] == "InvalidModel: no input named input"
    assert record_from_status({"fingerprint": "x", "state": "Exploded"}) is None


def test_a_build_that_cannot_be_scheduled_degrades_the_model(record: Records,
                                                             now: datetime) -> None:
    stuck = record("Building", reason="Unschedulable",
                   message="the build pod cannot be scheduled: 0/2 nodes are available: "
                           "2 Insufficient nvidia.com/gpu.")
    status = model_status([stuck], InventoryView(), previous={}, generation=3, spec_error=None,
                          now=now)
    conditions = _conditions(status)
    assert (conditions["Degraded"]["status"], conditions["Degraded"]["reason"]) == (
        "True", "BuildUnschedulable")
    assert "2 Insufficient nvidia.com/gpu" in conditions["Degraded"]["message"]
    assert "0123456789abcdef (cpu)" in conditions["Degraded"]["message"]
    # Waiting for a node is not a failed attempt being retried.
    assert conditions["EnginesReady"]["reason"] == "Building"
    assert status["phase"] == "Building"
    assert status["engines"][0]["message"].startswith("Unschedulable: the build pod cannot")

    # Once it is scheduled, nothing needs attention again.
    running = record("Building", message="building in pod engine-build-0123-x")
    again = model_status([running], InventoryView(), previous=status, generation=3,
                         spec_error=None, now=now)
    assert _conditions(again)["Degraded"]["status"] == "False"

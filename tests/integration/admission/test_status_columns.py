"""Status is a subresource the operator writes, and `kubectl get cmodel` shows its summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from integration.admission.cases import valid_classroom, valid_model

Kubectl = Callable[..., Any]


def test_columns_show_the_status_summary(kubectl: Kubectl, crds: None, namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(valid_model()))
    status = {"status": {"phase": "Building", "observedGeneration": 1,
                         "summary": {"engines": "2/3", "pods": "0/4", "streams": "0/12"},
                         "enginesReady": 2, "enginesNeeded": 3, "podsReady": 0, "podsWanted": 4}}
    kubectl("patch", "cmodel", "attention", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", json.dumps(status))
    table = kubectl("get", "cmodel", "attention", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "PHASE", "ENGINES", "PODS", "STREAMS", "AGE"]
    assert table[1].split()[:5] == ["attention", "Building", "2/3", "0/4", "0/12"]


def test_status_is_not_written_through_the_main_resource(kubectl: Kubectl, crds: None,
                                                          namespace: str) -> None:
    model = valid_model()
    model["status"] = {"phase": "Ready"}
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(model))
    phase = kubectl("get", "cmodel", "attention", "-n", namespace,
                    "-o", "jsonpath={.status.phase}")
    assert phase.stdout == ""


def test_status_enums_refuse_unknown_phases(kubectl: Kubectl, crds: None, namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(valid_model()))
    patched = kubectl("patch", "cmodel", "attention", "-n", namespace, "--subresource=status",
                      "--type=merge", "-p", json.dumps({"status": {"phase": "Sleeping"}}),
                      check=False)
    assert patched.returncode != 0
    assert "status.phase" in patched.stderr


def _room_status(**status: Any) -> str:
    return json.dumps({"status": status})


def test_classroom_columns_show_its_pod_and_streams(kubectl: Kubectl, crds: None,
                                                     namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(valid_classroom()))
    status = _room_status(
        observedGeneration=1, model=f"{namespace}/attention", pod="attention-0a1b2c3d-0",
        streams={"assigned": 1, "healthy": 0}, summary={"streams": "0/1"},
        streamStatuses=[{"id": "room-101-0", "state": "Failed",
                         "error": "room-101-0: connection refused"}],
        conditions=[{"type": "StreamsHealthy", "status": "False", "observedGeneration": 1,
                     "lastTransitionTime": "2026-01-05T08:00:00Z", "reason": "StreamFailed",
                     "message": "room-101-0: connection refused"}])
    kubectl("patch", "room", "room-101", "-n", namespace, "--subresource=status",
            "--type=merge", "-p", status)
    table = kubectl("get", "room", "room-101", "-n", namespace).stdout.splitlines()
    assert table[0].split() == ["NAME", "SCHOOL", "GRADE", "SEATS", "POD", "STREAMS", "AGE"]
    assert table[1].split()[:4] == ["room-101", "28", "attention-0a1b2c3d-0", "0/1"]
    stored = json.loads(kubectl("get", "room", "room-101", "-n", namespace, "-o", "json").stdout)
    assert stored["status"]["streamStatuses"] == [
        {"id": "room-101-0", "state": "Failed", "error": "room-101-0: connection refused"}]


def test_classroom_status_is_not_written_through_the_main_resource(
        kubectl: Kubectl, crds: None, namespace: str) -> None:
    room = valid_classroom()
    room["status"] = {"pod": "somewhere"}
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(room))
    pod = kubectl("get", "room", "room-101", "-n", namespace, "-o", "jsonpath={.status.pod}")
    assert pod.stdout == ""


def test_classroom_stream_states_refuse_unknown_ones(kubectl: Kubectl, crds: None,
                                                     namespace: str) -> None:
    kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(valid_classroom()))
    patched = kubectl("patch", "room", "room-101", "-n", namespace, "--subresource=status",
                      "--type=merge", "-p",
                      _room_status(streamStatuses=[{"id": "room-101-0", "state": "Up"}]),
                      check=False)
    assert patched.returncode != 0
    assert "status.streamStatuses[0].state" in patched.stderr, patched.stderr

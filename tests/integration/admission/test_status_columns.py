"""Status is a subresource the operator writes, and `kubectl get cmodel` shows its summary."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from integration.admission.cases import valid_model

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

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

SUMMARY_READY = ('{"fingerprint": "0123456789abcdef", "state": "Ready", "reason": "Built", '
                 '"permanent": false, "message": "stored", "backend": "onnxruntime-cpu", '
                 '"buildSeconds": 12.5, "sizeBytes": 4096, '
                 '"throughput": {"batch": 32, "cropsPerSecond": 2950.5}, '
                 '"validation": {"attentionMae": 0.001, "emotionAgreement": 0.99, '
                 '"passed": true}}')


@pytest.fixture
def summary_ready() -> str:
    return SUMMARY_READY


@pytest.fixture
def job_object() -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """(metadata, status) of a build Job, optionally finished."""

    def make(condition: str | None = None, reason: str = "", attempt: str = "1",
             when: str = "2026-11-25T11:00:00Z") -> tuple[dict[str, Any], dict[str, Any]]:
        meta = {"name": "engine-build-0123456789abcdef", "uid": "uid-1",
                "labels": {"classroom-operator.io/fingerprint": "0123456789abcdef",
                           "classroom-operator.io/gpu-class": "cpu"},
                "annotations": {"classroom-operator.io/attempt": attempt,
                                "classroom-operator.io/build-spec-sha256": "h1"}}
        status: dict[str, Any] = {}
        if condition:
            status["conditions"] = [{"type": condition, "status": "True", "reason": reason,
                                     "message": f"{reason} happened",
                                     "lastTransitionTime": when}]
        return meta, status

    return make


@pytest.fixture
def pod_object() -> Callable[..., tuple[dict[str, Any], dict[str, Any]]]:
    """(metadata, status) of a build pod: waiting, running or terminated."""

    def make(name: str = "engine-build-0123456789abcdef-x1", *, exit_code: int | None = None,
             message: str = "", finished: str = "2026-11-25T10:59:59Z",
             unschedulable: str = "") -> tuple[dict[str, Any], dict[str, Any]]:
        meta = {"name": name, "labels": {
            "batch.kubernetes.io/job-name": "engine-build-0123456789abcdef",
            "classroom-operator.io/fingerprint": "0123456789abcdef"}}
        status: dict[str, Any] = {"phase": "Pending"}
        if unschedulable:
            status["conditions"] = [{"type": "PodScheduled", "status": "False",
                                     "reason": "Unschedulable", "message": unschedulable,
                                     "lastTransitionTime": "2026-11-25T10:58:00Z"}]
        if exit_code is not None:
            status["phase"] = "Succeeded" if exit_code == 0 else "Failed"
            status["containerStatuses"] = [{"name": "build", "state": {"terminated": {
                "exitCode": exit_code, "message": message, "finishedAt": finished}}}]
        return meta, status

    return make

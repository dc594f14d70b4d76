"""What the indexes keep of a pool's StatefulSet, pods and assignment ConfigMap."""

from __future__ import annotations

from typing import Any

from classroom_operator.pool_views import pool_object, serving_pod, stored_assignment

LABELS = {"classroom-operator.io/pool": "attention-01234567",
          "classroom-operator.io/model": "attention",
          "classroom-operator.io/fingerprint": "0123456789abcdef",
          "classroom-operator.io/gpu-class": "nvidia-l4-sm89-drv550"}


def _pod(status: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {"meta": {"name": "attention-01234567-1", "namespace": "lincoln-high",
                     "labels": LABELS, **meta}, "status": status}


def test_a_statefulset_as_a_pool() -> None:
    pool = pool_object({"name": "attention-01234567", "namespace": "lincoln-high",
                        "labels": LABELS,
                        "annotations": {"classroom-operator.io/spec-sha256": "abc"}},
                       {"replicas": 3})
    assert (pool.name, pool.model, pool.fingerprint, pool.gpu_class, pool.replicas,
            pool.spec_hash) == ("attention-01234567", "attention", "0123456789abcdef",
                                "nvidia-l4-sm89-drv550", 3, "abc")


def test_a_ready_pod() -> None:
    pod = serving_pod(**_pod({"podIP": "127.3.0.9", "conditions": [
        {"type": "Ready", "status": "True"}]}))
    assert (pod.pool, pod.ready, pod.ip, pod.waiting) == \
        ("attention-01234567", True, "127.3.0.9", "")


def test_why_a_pod_is_not_ready() -> None:
    unschedulable = serving_pod(**_pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."}]}))
    assert not unschedulable.ready and unschedulable.ip is None
    assert unschedulable.waiting == \
        "Unschedulable: 0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    missing_secret = serving_pod(**_pod({"phase": "Pending", "containerStatuses": [
        {"name": "serve", "ready": False, "state": {"waiting": {
            "reason": "CreateContainerConfigError",
            "message": 'secret "classroom-pseudonym-key" not found'}}}]}))
    assert missing_secret.waiting == \
        'CreateContainerConfigError: secret "classroom-pseudonym-key" not found'
    loading = serving_pod(**_pod({"phase": "Running", "containerStatuses": [
        {"name": "serve", "ready": False, "restartCount": 2, "state": {"running": {}}}]}))
    assert loading.waiting == "not Ready yet (2 restarts)"


def test_a_terminating_pod_takes_no_rooms() -> None:
    pod = serving_pod(**_pod({"conditions": [{"type": "Ready", "status": "True"}]},
                             deletionTimestamp="2026-11-25T12:00:00Z"))
    assert not pod.ready and pod.waiting == "Terminating"


def test_an_assignment_configmap_as_rooms_by_pod() -> None:
    text = ('{"pods": {"attention-01234567-0": [{"name": "room-1", "streams": []}],'
            ' "attention-01234567-1": [{"name": "room-2", "streams": []},'
            ' {"name": "room-3", "streams": []}]}}')
    stored = stored_assignment({"namespace": "lincoln-high", "labels": LABELS},
                               {"assignment.json": text})
    assert stored.pool == "attention-01234567" and stored.text == text
    assert stored.rooms == {"room-1": "attention-01234567-0", "room-2": "attention-01234567-1",
                            "room-3": "attention-01234567-1"}


def test_an_unreadable_assignment_holds_no_rooms() -> None:
    for data in ({}, {"assignment.json": "{not json"}, {"assignment.json": "[]"},
                 {"assignment.json": '{"pods": {"p-0": "room-1"}}'}):
        assert stored_assignment({"labels": LABELS}, data).rooms == {}

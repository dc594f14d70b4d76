"""What the indexes keep of a pool's StatefulSet, pods and assignment ConfigMap."""

from __future__ import annotations

from typing import Any

from classroom_operator.rollout.pool_views import (
    HANDOVERS_ANNOTATION,
    HandoverRecord,
    handovers_text,
    pool_object,
    serving_pod,
    stored_assignment,
)

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


def test_an_assignment_configmap_as_pods_by_room() -> None:
    text = ('{"pods": {"attention-01234567-0": [{"name": "room-1", "streams": []}],'
            ' "attention-01234567-1": [{"name": "room-2", "streams": []},'
            ' {"name": "room-1", "streams": []}, {"name": "room-3", "streams": []}]}}')
    stored = stored_assignment({"namespace": "lincoln-high", "labels": LABELS},
                               {"assignment.json": text})
    assert stored.pool == "attention-01234567" and stored.text == text
    assert stored.listed == {"room-1": ("attention-01234567-0", "attention-01234567-1"),
                             "room-2": ("attention-01234567-1",),
                             "room-3": ("attention-01234567-1",)}
    assert stored.handovers == {} and stored.handovers_text == ""


def test_an_unreadable_assignment_holds_no_rooms() -> None:
    for data in ({}, {"assignment.json": "{not json"}, {"assignment.json": "[]"},
                 {"assignment.json": '{"pods": {"p-0": "room-1"}}'}):
        assert stored_assignment({"labels": LABELS}, data).listed == {}


def test_handover_records_round_trip_through_the_annotation() -> None:
    records = {"room-1": HandoverRecord("attention-89abcdef-0", 1_795_000_000.0),
               "room-2": HandoverRecord("attention-89abcdef-1", 1_795_000_030.0)}
    text = handovers_text(records)
    assert '"since":"2026-11-18T' in text  # UTC, readable by whoever looks at the ConfigMap
    stored = stored_assignment({"labels": LABELS, "annotations": {HANDOVERS_ANNOTATION: text}},
                               {"assignment.json": '{"pods": {}}'})
    assert stored.handovers == records and stored.handovers_text == text
    assert handovers_text({}) == ""


def test_an_unreadable_handover_record_is_left_out() -> None:
    broken = ('{"room-1": {"to": "attention-89abcdef-0", "since": "yesterday"},'
              ' "room-2": {"since": "2026-11-18T10:00:00Z"}, "room-3": "p-0",'
              ' "room-4": {"to": "attention-89abcdef-0", "since": "2026-11-18T10:00:00Z"}}')
    for annotation, rooms in (("{not json", set()), ("[]", set()), (broken, {"room-4"})):
        stored = stored_assignment(
            {"labels": LABELS, "annotations": {HANDOVERS_ANNOTATION: annotation}}, {})
        assert set(stored.handovers) == rooms
        assert stored.handovers_text == annotation


def test_an_unschedulable_pod_says_since_when() -> None:
    pod = serving_pod(**_pod({"phase": "Pending", "conditions": [
        {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
         "message": "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
         "lastTransitionTime": "2026-11-25T12:00:00Z"}]}))
    assert pod.unschedulable_since == 1795608000.0
    running = serving_pod(**_pod({"phase": "Running", "conditions": [
        {"type": "PodScheduled", "status": "True",
         "lastTransitionTime": "2026-11-25T12:00:00Z"}]}))
    assert running.unschedulable_since is None


def test_a_pool_that_gave_gpus_up_keeps_its_record() -> None:
    note = ('{"at":"2026-11-25T12:00:00Z","for":"engine dddd000000000000","from":2,'
            '"reason":"0/2 nodes are available","replicas":1}')
    pool = pool_object({"name": "attention-01234567", "namespace": "lincoln-high",
                        "labels": LABELS, "annotations": {"classroom-operator.io/gpu-yield": note}},
                       {"replicas": 2})
    assert pool.gpu_yield is not None
    assert (pool.gpu_yield.before, pool.gpu_yield.replicas, pool.gpu_yield.at,
            pool.gpu_yield.waiting) == (2, 1, 1795608000.0, "engine dddd000000000000")
    assert pool.gpu_yield.to_text() == note

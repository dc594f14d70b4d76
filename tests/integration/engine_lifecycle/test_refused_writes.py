"""A write the API server refuses shows in the model's status: the namespace's ResourceQuota
allows no StatefulSet, so the pool's StatefulSet, which the ClassroomModel's admission could
not foresee, is refused. The model says so (Degraded, WriteRefused, the object and the API
server's message; phase Failed while nothing serves; a Warning event), the operator does not
retry it in a hot loop, and once the quota allows it the pool is created and Degraded clears."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench.operator_harness import (
    OperatorProcess,
    apply,
    condition,
    model,
    model_manifest,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import l4

STATEFULSETS = "/apis/apps/v1/namespaces/{namespace}/statefulsets"
ROOMS = [{"name": "room-1", "streams": [{"url": "rtsp://cameras.example.org/room-1"}]}]


def _posts(process: OperatorProcess, code: str) -> float:
    return process.metrics().get(
        f'classroom_operator_api_requests_total{{code="{code}",resource="statefulsets",'
        'verb="POST"}', 0.0)


def test_a_statefulset_the_api_server_refuses_degrades_the_model(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(l4(f"{stem}-l4-0", runner="kwok"))
    quota = {"apiVersion": "v1", "kind": "ResourceQuota",
             "metadata": {"name": "no-statefulsets", "namespace": pool},
             "spec": {"hard": {"count/statefulsets.apps": "0"}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(quota))
    process = operator(CLASSROOM_RESYNC_SECONDS="1")
    apply(cluster, pool, [model_manifest("attention", pool, classrooms=ROOMS)])

    def degraded() -> dict[str, Any] | None:
        found = model(api, pool, "attention")
        if condition(found, "Degraded").get("reason") == "WriteRefused":
            return found
        return None

    found = wait_for(degraded, "Degraded WriteRefused", timeout=90,
                     show=lambda: (model(api, pool, "attention") or {}).get("status"))
    message = str(condition(found, "Degraded")["message"])
    assert f"StatefulSet {pool}/attention-" in message and "HTTP 403" in message, message
    assert "exceeded quota" in message, message
    assert found["status"]["phase"] == "Failed"  # nothing serves
    ready = condition(found, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WriteRefused")
    events = cluster.kubectl("get", "events", "-n", pool, "--field-selector",
                             "involvedObject.name=attention,type=Warning", "-o",
                             "jsonpath={.items[*].reason}").stdout.split()
    assert "WriteRefused" in events
    # Backed off, not hammered: a pass every second, yet a handful of attempts in 12 s.
    first = _posts(process, "403")
    time.sleep(12)
    assert _posts(process, "403") - first <= 3

    cluster.kubectl("delete", "resourcequota", "no-statefulsets", "-n", pool)
    wait_for(lambda: api.get(STATEFULSETS.format(namespace=pool))["items"],
             "the pool's StatefulSet once the quota allows it", timeout=90)
    wait_for(lambda: condition(model(api, pool, "attention"), "Degraded").get("status")
             == "False", "Degraded cleared", timeout=30,
             show=lambda: condition(model(api, pool, "attention"), "Degraded"))

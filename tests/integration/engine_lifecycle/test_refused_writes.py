"""A write the API server refuses shows in the model's status: a StatefulSet whose resources
request more CPU than their limit passes the CRD's admission but not the API server's
validation of the StatefulSet. The model says so (Degraded, WriteRefused, the object and the
API server's message; phase Failed while nothing serves; a Warning event), the operator does not
retry it in a hot loop, and a fixed spec recovers."""

from __future__ import annotations

import time
from collections.abc import Callable

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
    process = operator(CLASSROOM_RESYNC_SECONDS="1")
    refused = {"requests": {"cpu": "2"}, "limits": {"cpu": "1"}}
    apply(cluster, pool, [model_manifest("attention", pool, classrooms=ROOMS,
                                         serving={"resources": refused})])

    def degraded() -> dict[str, object] | None:
        found = model(api, pool, "attention")
        if condition(found, "Degraded").get("reason") == "WriteRefused":
            return found
        return None

    found = wait_for(degraded, "Degraded WriteRefused", timeout=90,
                     show=lambda: (model(api, pool, "attention") or {}).get("status"))
    assert found is not None
    message = str(condition(found, "Degraded")["message"])
    assert "StatefulSet" in message and "HTTP 422" in message, message
    assert "less than or equal to cpu limit" in message, message
    assert found["status"]["phase"] == "Failed"  # type: ignore[index]
    ready = condition(found, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "WriteRefused")
    events = cluster.kubectl("get", "events", "-n", pool, "--field-selector",
                             "involvedObject.name=attention,type=Warning", "-o",
                             "jsonpath={.items[*].reason}").stdout.split()
    assert "WriteRefused" in events
    # Backed off, not hammered: resync every second, yet a handful of attempts in 12 s.
    first = _posts(process, "422")
    time.sleep(12)
    assert _posts(process, "422") - first <= 3

    fixed = {"requests": {"cpu": "1"}, "limits": {"cpu": "1"}}
    apply(cluster, pool, [model_manifest("attention", pool, classrooms=ROOMS,
                                         serving={"resources": fixed})])
    wait_for(lambda: api.get(STATEFULSETS.format(namespace=pool))["items"],
             "the pool's StatefulSet", timeout=30)
    wait_for(lambda: condition(model(api, pool, "attention"), "Degraded").get("status")
             == "False", "Degraded cleared", timeout=30,
             show=lambda: condition(model(api, pool, "attention"), "Degraded"))

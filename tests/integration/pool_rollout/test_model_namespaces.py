"""Pools live in their model's namespace: a model outside the operator's namespace is served once
that namespace has the engine store claim on the same storage (here a static PV of the operator's
store folder, as a platform team would bind a second claim to the same NFS share)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from bench.operator_harness import CLAIM, OperatorProcess, apply, delete_models, wait_for
from integration.pool_rollout.kit import (
    Media,
    assignments,
    condition,
    manifest,
    room,
    serving,
    stream_status,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import l4

TIMEOUT = 240


@pytest.fixture
def school(cluster: LocalCluster, pool: str, api: Api,
           operator: OperatorProcess) -> Iterator[str]:
    """A second namespace, for the school district's models; emptied of them at the end,
    while the operator still runs to release them."""
    name = f"{pool[:50]}-school"
    cluster.kubectl("create", "namespace", name)
    yield name
    try:
        delete_models(cluster, api, name)
    finally:
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)
        cluster.kubectl("delete", "persistentvolume", _volume(name), "--ignore-not-found",
                        "--wait=false", check=False)


def _volume(namespace: str) -> str:
    return f"{namespace[:40]}-engines"


def _share_the_store(cluster: LocalCluster, api: Api, operator_namespace: str,
                     namespace: str) -> None:
    claim = wait_for(lambda: (api.get_or_none(
        f"/api/v1/namespaces/{operator_namespace}/persistentvolumeclaims/{CLAIM}") or {})
        .get("spec", {}).get("volumeName"), "the engine store to be bound")
    store = api.get(f"/api/v1/persistentvolumes/{claim}")["spec"]["hostPath"]["path"]
    volume = _volume(namespace)
    shared = [
        {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": volume},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                  "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "",
                  "hostPath": {"path": store}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": CLAIM, "namespace": namespace},
         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "",
                  "volumeName": volume, "resources": {"requests": {"storage": "1Gi"}}}},
    ]
    cluster.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List",
                                                          "items": shared}))


def test_a_model_in_another_namespace_is_served_from_the_shared_store(
        cluster: LocalCluster, api: Api, pool: str, school: str,
        nodes: Callable[..., list[str]], operator: OperatorProcess, media: Media) -> None:
    nodes(l4(f"{pool[:20]}-l4"))
    apply(cluster, school, [manifest(media, "attention", pool,
                                     classrooms=[room(media, "room-7")])])

    # Without the claim in its namespace the pool cannot start, and status says why.
    def waiting_for_the_claim() -> bool:
        message = condition(stream_status(api, school, "attention"), "RolledOut").get(
            "message", "")
        return f'persistentvolumeclaim "{CLAIM}" not found' in message

    wait_for(waiting_for_the_claim, "RolledOut to name the missing claim", timeout=TIMEOUT)

    _share_the_store(cluster, api, pool, school)
    status = wait_for(lambda: serving(api, school, "attention", 1), "1 healthy stream",
                      timeout=TIMEOUT)
    assert status["summary"]["pods"] == "1/1"
    assert list(assignments(api, school)) == ["room-7"]
    assert assignments(api, pool) == {}  # nothing of the school's runs in the operator's
    secret = api.get(f"/api/v1/namespaces/{school}/secrets/classroom-pseudonym-key")
    assert secret["metadata"]["namespace"] == school

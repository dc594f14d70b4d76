"""The operator's privacy settings on a real control plane: under an emotion policy of
`disabled` the pods of a model mapping emotion run with `--emotion disabled` and say so; a
stream naming a missing camera login stays served and the model's status names the stream and
the Secret; once the Secret exists, the next pass copies the login into the pool's own Secret."""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from bench.operator_harness import OperatorProcess, apply, running_operator, wait_for
from integration.pool_rollout.kit import (
    Media,
    condition,
    manifest,
    ready_pods,
    room,
    serving,
    status_request,
    stream_status,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100

TIMEOUT = 240
PASSWORD = "never-in-a-configmap-7Q"


@pytest.fixture
def strict_operator(cluster: LocalCluster, pool: str, api: Api,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """`classroom-operator run` under the chart's default emotion policy, disabled."""
    yield from running_operator(cluster, api, pool, tmp_path_factory.mktemp("operator"),
                                CLASSROOM_RESYNC_SECONDS="5", CLASSROOM_EMOTION_POLICY="disabled")


def _pool_logins(api: Api, namespace: str, pool: str) -> dict[str, Any]:
    secret = api.get(f"/api/v1/namespaces/{namespace}/secrets/{pool}-credentials")
    found: dict[str, Any] = json.loads(base64.b64decode(secret["data"]["streams.json"]))
    return found


def test_emotion_dropped_by_policy_and_a_login_that_arrives_later(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        strict_operator: OperatorProcess, media: Media) -> None:
    nodes(a100(f"{pool[:20]}-a100"))
    classroom = {**room(media, "room-101"), "credentialsSecretRef": {"name": "room-101-cams"}}
    apply(cluster, pool, [manifest(media, "attention", pool, classrooms=[classroom])])

    # Served without the login (a file stream needs none), and the status says what is missing.
    status = wait_for(lambda: serving(api, pool, "attention", 1), "the stream served",
                      timeout=TIMEOUT, show=lambda: stream_status(api, pool, "attention"))
    missing = condition(status, "CameraCredentials")
    assert (missing.get("status"), missing.get("reason")) == ("False", "CredentialsMissing")
    assert "stream room-101-0: Secret room-101-cams not found" in missing["message"]
    emotion = condition(status, "EmotionPolicy")
    assert (emotion.get("status"), emotion.get("reason")) == ("False", "EmotionDropped")
    assert "spec.model.outputs.emotion" in emotion["message"]
    events = json.loads(cluster.kubectl("get", "events", "-n", pool, "-o", "json").stdout)
    assert {"EmotionDropped", "CredentialsMissing"} <= {e.get("reason") for e in
                                                        events["items"]}

    (pod,) = ready_pods(api, pool).values()
    (container,) = pod["spec"]["containers"]
    assert container["command"][-2:] == ["--emotion", "disabled"]
    with urllib.request.urlopen(status_request(api, pool, pod["status"]["podIP"]),
                                timeout=5) as response:
        document = json.load(response)
    assert document["policy"] == {"emotion": "disabled"}
    assert "emotion" not in document["engine"]["heads"]
    pool_name = pod["metadata"]["labels"]["classroom-operator.io/pool"]
    assert _pool_logins(api, pool, pool_name) == {}

    apply(cluster, pool, [{"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                           "metadata": {"name": "room-101-cams"},
                           "stringData": {"username": "viewer", "password": PASSWORD}}])
    wait_for(lambda: _pool_logins(api, pool, pool_name) == {
        "room-101-0": {"username": "viewer", "password": PASSWORD}},
        "the login copied into the pool's Secret", timeout=60)
    wait_for(lambda: condition(stream_status(api, pool, "attention"),
                               "CameraCredentials").get("reason") == "Resolved",
             "CameraCredentials resolved", timeout=60)
    configmap = api.get(f"/api/v1/namespaces/{pool}/configmaps/{pool_name}")
    assert PASSWORD not in json.dumps(configmap)
    assert PASSWORD not in json.dumps(stream_status(api, pool, "attention"))

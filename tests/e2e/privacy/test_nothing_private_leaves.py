"""Camera logins in Secrets, a signing key, and the emotion policy, end to end: a real pod reads
a camera that refuses to stream without its login (named on school IT's Classroom), and every
byte the product puts out (webhook deliveries, the live feed, the pod's status document, the
pods' and the operator's logs, Events, the model's and the Classroom's status, the assignment
ConfigMaps) is scanned for the login and the other secret values, the camera URL (allowed only
in the assignment file, where the contract puts it), raw student identifiers and pixels. The
scanner is shown to find each of them when they are planted where the outputs are collected."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

from bench.operator_harness import OperatorProcess, apply, model_manifest, wait_for
from e2e.privacy.conftest import Camera, Receiver, pod_logs
from e2e.privacy.leaks import Output, Scanner
from integration.pool_rollout.kit import condition, ready_pods, serving, stream_status
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100

TIMEOUT = 300  # a build, then a pod that loads the engine and logs in to the camera
LIVE_SECONDS = 8.0
INFERENCE = "app.kubernetes.io/component=inference"
JPEG = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(300)).decode()


def _secret(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": {"name": name}, "stringData": data}


def _pod_token(api: Api, namespace: str) -> str:
    """The pods' API token (the Secret the operator creates): their feed and status ask for it."""
    secret = api.get(f"/api/v1/namespaces/{namespace}/secrets/classroom-pod-api-token")
    return base64.b64decode(secret["data"]["token"]).decode()


def _pod_request(ip: str, path: str, token: str) -> urllib.request.Request:
    return urllib.request.Request(f"http://{ip}:8080{path}",
                                  headers={"Authorization": f"Bearer {token}"})


def _live(ip: str, seconds: float, token: str) -> tuple[threading.Thread, list[bytes]]:
    """Read the pod's live feed for `seconds`, in the background."""
    chunks: list[bytes] = []

    def read() -> None:
        deadline = time.monotonic() + seconds
        try:
            with urllib.request.urlopen(_pod_request(ip, "/v1/events", token),
                                        timeout=2) as feed:
                while time.monotonic() < deadline:
                    line = feed.readline()
                    if not line:
                        break
                    chunks.append(line)
        except (OSError, TimeoutError):
            pass  # the read timed out between events; what arrived is kept

    thread = threading.Thread(target=read, daemon=True)
    thread.start()
    return thread, chunks


def _events(deliveries: list[bytes]) -> list[dict[str, Any]]:
    return [event for body in deliveries for event in json.loads(body)["events"]]


def _verified(key: bytes, header: str | None, body: bytes) -> bool:
    """docs/contracts.md's receiver check, less the replay window (deliveries are fresh)."""
    fields = dict(part.split("=", 1) for part in (header or "").split(",") if "=" in part)
    if not fields.get("t", "").isdigit() or "v1" not in fields:
        return False
    mac = hmac.new(key, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, fields["v1"])


def _refused_without_login(camera: Camera) -> str:
    done = subprocess.run(["ffprobe", "-v", "error", "-rtsp_transport", "tcp", camera.url],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode != 0, "the camera streams without a login: the test proves nothing"
    return done.stderr


def _collect(cluster: LocalCluster, api: Api, pool: str, operator: OperatorProcess,
             deliveries: list[bytes], live: bytes, status_document: str) -> list[Output]:
    outputs = [Output(f"webhook delivery {i}", body.decode()) for i, body in
               enumerate(deliveries)]
    outputs.append(Output("live feed /v1/events", live.decode(errors="replace")))
    outputs.append(Output("pod /v1/status", status_document))
    outputs += [Output(f"pod log {path.name}", path.read_text(errors="replace"))
                for path in pod_logs(cluster, pool)]
    outputs.append(Output("operator log", operator.logs.read_text(errors="replace")))
    outputs.append(_events_output(cluster, pool))
    outputs.append(Output("model status", json.dumps(stream_status(api, pool, "privacy"))))
    room = api.get(f"/apis/classroom-operator.io/v1alpha1/namespaces/{pool}/classrooms/room-a")
    outputs.append(Output("Classroom status", json.dumps(room.get("status") or {})))
    configmaps = api.get(f"/api/v1/namespaces/{pool}/configmaps?labelSelector={INFERENCE}")
    outputs += [Output(f"ConfigMap {item['metadata']['name']}", json.dumps(item.get("data")),
                       urls_allowed=True) for item in configmaps["items"]]
    return outputs


def _events_output(cluster: LocalCluster, pool: str) -> Output:
    return Output("Events", cluster.kubectl("get", "events", "-n", pool, "-o", "json").stdout)


def test_no_login_url_student_id_or_pixel_leaves_the_product(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, camera: Camera, receiver: Receiver,
        model_spec: dict[str, Any]) -> None:
    refusal = _refused_without_login(camera)
    nodes(a100(f"{pool[:20]}-a100"))
    token, signing_key = f"tok-{secrets.token_urlsafe(16)}", secrets.token_urlsafe(32)
    apply(cluster, pool, [
        _secret("room-a-cameras", {"username": camera.login.username,
                                   "password": camera.login.password}),
        _secret("labels-sink", {"token": token, "signing-key": signing_key}),
        # School IT's room, with the login named on the room; the model selects it.
        {"apiVersion": "classroom-operator.io/v1alpha1", "kind": "Classroom",
         "metadata": {"name": "room-a", "labels": {"school": "privacy"}},
         "spec": {"credentialsSecretRef": {"name": "room-a-cameras"}, "seats": 1,
                  "streams": [{"url": camera.url, "layout": "per-student"}]}},
        model_manifest(
            "privacy", pool, model=model_spec, serving={"targetFps": 5},
            analysis={"distractedAfterSeconds": 2, "smoothingSeconds": 1,
                      "summaryEverySeconds": 3},
            sink={"webhook": {"url": receiver.url,
                              "secretRef": {"name": "labels-sink", "key": "token"}}},
            classroomSelector={"matchLabels": {"school": "privacy"}}),
    ])

    # Healthy means the pod logged in: the camera refuses a reader without the login.
    status = wait_for(lambda: serving(api, pool, "privacy", 1), "the stream healthy",
                      timeout=TIMEOUT, show=lambda: stream_status(api, pool, "privacy"))
    assert (condition(status, "CameraCredentials").get("reason"),
            condition(status, "WebhookSigned").get("reason"),
            condition(status, "EmotionPolicy").get("reason")) == \
        ("Resolved", "Signed", "EmotionDropped"), status["conditions"]
    (pod,) = ready_pods(api, pool).values()
    ip = pod["status"]["podIP"]
    pool_name = pod["metadata"]["labels"]["classroom-operator.io/pool"]
    copy = api.get(f"/api/v1/namespaces/{pool}/secrets/{pool_name}-credentials")
    assert json.loads(base64.b64decode(copy["data"]["streams.json"])) == {"room-a-0": {
        "username": camera.login.username, "password": camera.login.password}}

    pod_token = _pod_token(api, pool)
    reader, live = _live(ip, LIVE_SECONDS, pod_token)
    wait_for(lambda: {"series", "student-summary"} <= {
        e["type"] for e in _events([d.body for d in receiver.deliveries])},
        "series and summaries at the webhook", timeout=90)
    reader.join(timeout=LIVE_SECONDS + 10)
    with urllib.request.urlopen(_pod_request(ip, "/v1/status", pod_token),
                                timeout=5) as response:
        status_document = response.read().decode()
    deliveries = [d.body for d in receiver.deliveries]

    # Signed with the Secret's key; the policy dropped the emotion head before the analysis.
    assert all(_verified(signing_key.encode(), d.headers.get("Classroom-Signature"), d.body)
               for d in receiver.deliveries)
    assert json.loads(status_document)["policy"] == {"emotion": "disabled"}
    events = _events(deliveries)
    assert not [e for e in events if {"emotion", "dominantEmotion"} & set(e)]
    assert any(e.get("student") for e in events)
    assert b"data:" in b"".join(live), "the live feed sent nothing to scan"

    scanner = Scanner(secrets=(camera.login.password, camera.login.username, token,
                               signing_key, pod_token),
                      urls=(camera.url,))
    outputs = _collect(cluster, api, pool, operator, deliveries, b"".join(live),
                       status_document)
    assert len(outputs) >= 8 and any(o.where.startswith("pod log") for o in outputs)
    assert scanner.scan(outputs) == []

    # The scanner finds each kind of leak where the outputs are collected: an Event carrying
    # the password, a JPEG, and a seat number; a live event with an unhashed student.
    api.create(f"/api/v1/namespaces/{pool}/events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"planted-{secrets.token_hex(3)}"},
        "involvedObject": {"kind": "ConfigMap", "name": "planted", "namespace": pool,
                           "apiVersion": "v1"},
        "reason": "Planted", "type": "Warning",
        "message": f"login {camera.login.password} frame {JPEG} seat: 7"})
    planted = scanner.scan([_events_output(cluster, pool),
                            Output("planted live event",
                                   'data: {"type": "alert", "student": "alice-7b"}')])
    assert any("Events: a secret value" in p for p in planted), planted
    assert any("Events: pixel data" in p for p in planted), planted
    assert any("Events: a seat number" in p for p in planted), planted
    assert any("raw student identifier 'alice-7b'" in p for p in planted), planted
    assert "401" in refusal or "Unauthorized" in refusal, refusal

"""The operator and data-plane images, built from their Dockerfiles, run as containers on a real
kubelet (containerd, runc) in a namespace enforcing the restricted Pod Security Standard: the
operator installed by the chart becomes ready, a build Job the operator's own code describes
writes its engine to the PersistentVolume, and an inference pod serves it, reading a ConfigMap
volume and a Secret."""

from __future__ import annotations

import hashlib
import json
import os
import time
import urllib.request
from typing import Any

from classroom_inference.builder.reference_model import reference_model, reference_spec
from classroom_inference.serving.pseudonym import Pseudonyms
from classroom_operator.engines.build_jobs import STORE_PATH, EngineNeed, build_job
from classroom_operator.engines.inventory import GpuClass
from classroom_operator.settings import Settings
from classroom_operator.spec import parse_spec
from integration.chart.release import Release
from integration.containers.conftest import (
    APP_UID,
    NODE,
    TOLERATION,
    ContainerCluster,
    Restricted,
)

FINGERPRINT = "c0ffee0000000001"
SIZE = 48
SECRET = "pseudonym-secret-from-a-kubernetes-secret"


def _assert_confined(spec: dict[str, Any]) -> None:
    """What runc was told to do: non-root, read-only root, no capabilities, no new privileges,
    a seccomp filter."""
    process = spec["process"]
    assert process["user"]["uid"] == APP_UID
    assert process["user"]["gid"] == APP_UID
    assert process.get("noNewPrivileges") is True
    capabilities = process.get("capabilities") or {}
    assert all(not capabilities.get(kind) for kind in
               ("bounding", "effective", "permitted", "inheritable", "ambient")), capabilities
    assert spec["root"]["readonly"] is True
    seccomp = spec["linux"].get("seccomp")
    assert seccomp and seccomp["defaultAction"] == "SCMP_ACT_ERRNO"


def test_operator_image_runs_under_restricted_and_passes_its_probes(
        containers: ContainerCluster, restricted: Restricted, operator_image: str,
        inference_image: str) -> None:
    repository, tag = operator_image.rsplit(":", 1)
    release = Release(containers.cluster, restricted.name)
    release.helm(
        "install",
        image={"repository": repository, "tag": tag, "pullPolicy": "Never"},
        operator={"nodeSelector": {"kubernetes.io/hostname": NODE}, "tolerations": [TOLERATION],
                  "replicas": 1},
        builder={"image": inference_image},
        engineStore={"existingClaim": restricted.claim},
    )
    try:
        # Ready means kopf's /healthz answered the kubelet's probe: the operator started, logged
        # in with its ServiceAccount through the `kubernetes` Service and watches the API.
        release.rollout()
        pods = json.loads(containers.kubectl(
            "get", "pods", "-n", restricted.name, "-l", "app.kubernetes.io/name=classroom-operator",
            "-o", "json"))["items"]
        [pod] = pods
        assert pod["spec"]["nodeName"] == NODE
        [status] = pod["status"]["containerStatuses"]
        assert status["ready"] and status["containerID"].startswith("containerd://")
        assert status["image"].endswith(operator_image.split("/", 1)[1])
        _assert_confined(containers.container_spec(restricted.name, pod["metadata"]["name"],
                                                   "operator"))
        log = containers.kubectl("logs", "-n", restricted.name, pod["metadata"]["name"])
        assert f"classroom-operator started in {restricted.name}" in log
    finally:
        release.uninstall()


def _model_on_the_store(restricted: Restricted) -> dict[str, object]:
    """The builder's reference model written to the engine store's folder; its spec's URI is
    where a pod that mounts the store reads it."""
    data = reference_model(SIZE, 3).SerializeToString()
    models = restricted.store / "models"
    models.mkdir()
    (models / "reference.onnx").write_bytes(data)
    for path in (models, models / "reference.onnx"):
        os.chown(path, APP_UID, APP_UID)
    return reference_spec(f"file://{STORE_PATH}/models/reference.onnx",
                          hashlib.sha256(data).hexdigest(), SIZE, 3)


def _build(containers: ContainerCluster, restricted: Restricted, inference_image: str) -> None:
    spec = parse_spec({"model": _model_on_the_store(restricted),
                       "engine": {"batch": {"min": 1, "opt": 4, "max": 8}},
                       "serving": {"tolerations": [TOLERATION]}})
    settings = Settings(namespace=restricted.name, builder_image=inference_image,
                        tensorrt_version="none", gpu_backend="onnxruntime-cpu",
                        engine_store_claim=restricted.claim, peering=None, engine_gc_seconds=600,
                        pod_ip="127.0.0.1", build_deadline_seconds=600, build_backoff_limit=0,
                        build_ttl_seconds=3600)
    # The L4 class, built for the CPU backend (no GPU here): the Job asks for one nvidia.com/gpu
    # and selects the node by its GFD labels, as on a real GPU node.
    need = EngineNeed(FINGERPRINT, GpuClass("NVIDIA-L4", "8.9", 550), "onnxruntime-cpu")
    job = build_job(need, spec, settings,
                    attempt=1, requested_by=f"{restricted.name}/reference")
    containers.apply(job)
    name = job["metadata"]["name"]

    def finished() -> dict[str, Any] | None:
        status = containers.get("job", name, restricted.name).get("status", {})
        done = [c for c in status.get("conditions", []) if c["type"] in ("Complete", "Failed")
                and c["status"] == "True"]
        return done[0] if done else None

    condition = containers.wait(f"build Job {name}", finished, timeout=300,
                                namespace=restricted.name)
    [pod] = json.loads(containers.kubectl("get", "pods", "-n", restricted.name, "-l",
                                          f"job-name={name}", "-o", "json"))["items"]
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert condition["type"] == "Complete", terminated
    # The builder's one-line summary, read by the kubelet from /dev/termination-log.
    summary = json.loads(terminated["message"].strip().splitlines()[-1])
    assert summary["state"] == "Ready" and summary["fingerprint"] == FINGERPRINT


def test_build_job_writes_the_engine_to_the_volume_and_a_pod_serves_it(
        containers: ContainerCluster, restricted: Restricted, inference_image: str) -> None:
    _build(containers, restricted, inference_image)
    engine_dir = restricted.store / FINGERPRINT
    meta = json.loads((engine_dir / "meta.json").read_text())
    assert (engine_dir / meta["engineFile"]).stat().st_size == meta["sizeBytes"]
    assert (engine_dir / "meta.json").stat().st_uid == APP_UID

    assignment = {
        "model": f"{restricted.name}/reference", "generation": 1, "fingerprint": FINGERPRINT,
        "analysis": {"distractedAfterSeconds": 30, "attentionThreshold": 0.5,
                     "smoothingSeconds": 1, "summaryEverySeconds": 10},
        "pods": {"serve-0": [{"name": "room-101", "streams": [
            {"id": "room-101-0", "layout": "per-student",
             "url": f"synthetic://cam?fps=5&width={SIZE}&height={SIZE}&pattern=220:600"}]}]},
    }
    containers.apply(
        {"apiVersion": "v1", "kind": "Secret",
         "metadata": {"name": "pseudonyms", "namespace": restricted.name},
         "stringData": {"secret": SECRET}},
        {"apiVersion": "v1", "kind": "ConfigMap",
         "metadata": {"name": "assignment", "namespace": restricted.name},
         "data": {"assignment.json": json.dumps(assignment)}},
        _serving_pod(restricted, inference_image),
    )

    def ready() -> dict[str, Any] | None:
        pod = containers.get("pod", "serve-0", restricted.name)
        statuses = pod["status"].get("containerStatuses") or [{}]
        return pod if statuses[0].get("ready") else None

    pod = containers.wait("the inference pod's readiness probe", ready, timeout=180,
                          namespace=restricted.name)
    _assert_confined(containers.container_spec(restricted.name, "serve-0", "inference"))
    # Reached from this machine at the pod's own address on the node's bridge.
    base = f"http://{pod['status']['podIP']}:8080"
    with urllib.request.urlopen(f"{base}/v1/status", timeout=10) as answer:
        status = json.loads(answer.read())
    assert [s["id"] for room in status["classrooms"] for s in room["streams"]] == ["room-101-0"]
    # The pseudonymous student id is keyed by the Secret: it matches only if the pod read it.
    expected = Pseudonyms(SECRET).student("room-101", "room-101-0", "0")
    assert expected in _events(f"{base}/v1/events?classroom=room-101", seconds=30)


def _events(url: str, seconds: float) -> str:
    """The live event stream's text until a `series` event arrived or `seconds` passed."""
    seen: list[str] = []
    deadline = time.monotonic() + seconds
    with urllib.request.urlopen(url, timeout=seconds) as stream:
        while time.monotonic() < deadline:
            line = stream.readline().decode()
            seen.append(line)
            if '"series"' in line:
                break
    return "".join(seen)


def _serving_pod(restricted: Restricted, image: str) -> dict[str, Any]:
    """An inference pod as the operator's pools describe one: the store read-only from the
    claim, the assignment from a ConfigMap, the pseudonym key from a Secret."""
    def field(path: str) -> dict[str, Any]:
        return {"fieldRef": {"fieldPath": path}}

    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "serve-0", "namespace": restricted.name},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": NODE},
            "tolerations": [TOLERATION],
            "automountServiceAccountToken": False,
            "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": APP_UID,
                                "runAsGroup": APP_UID,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "inference", "image": image, "imagePullPolicy": "Never",
                "command": ["classroom-inference", "serve", "--store", STORE_PATH,
                            "--fingerprint", FINGERPRINT,
                            "--assignment", "/etc/classroom/assignment/assignment.json",
                            "--host", "$(POD_IP)", "--port", "8080",
                            "--spool-dir", "/var/spool/classroom"],
                "env": [
                    {"name": "POD_NAME", "valueFrom": field("metadata.name")},
                    {"name": "POD_IP", "valueFrom": field("status.podIP")},
                    {"name": "CLASSROOM_RUNNER_THREADS", "value": "1"},
                    {"name": "CLASSROOM_ID_SECRET", "valueFrom": {"secretKeyRef": {
                        "name": "pseudonyms", "key": "secret"}}},
                ],
                "ports": [{"name": "http", "containerPort": 8080}],
                "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"},
                                  "periodSeconds": 10},
                "readinessProbe": {"httpGet": {"path": "/readyz", "port": "http"},
                                   "periodSeconds": 2},
                "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}},
                "volumeMounts": [
                    {"name": "engines", "mountPath": STORE_PATH, "readOnly": True},
                    {"name": "assignment", "mountPath": "/etc/classroom/assignment",
                     "readOnly": True},
                    {"name": "spool", "mountPath": "/var/spool/classroom"},
                    {"name": "tmp", "mountPath": "/tmp"},
                ],
                "securityContext": {"allowPrivilegeEscalation": False,
                                    "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
            "volumes": [
                {"name": "engines", "persistentVolumeClaim": {"claimName": restricted.claim,
                                                              "readOnly": True}},
                {"name": "assignment", "configMap": {"name": "assignment"}},
                {"name": "spool", "emptyDir": {}},
                {"name": "tmp", "emptyDir": {}},
            ],
        },
    }

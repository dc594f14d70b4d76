"""The desired objects of one inference pool (pure): a ClassroomModel's pods for one GPU class
and engine fingerprint (docs/contracts.md, "The inference pod").

A pool is a StatefulSet (stable pod names, which the assignment file is keyed by), its headless
Service, and the ConfigMap holding its assignment file. All three are named after the model and
the fingerprint's first characters, so a rollover to a new engine creates a second pool beside
the old one instead of changing it in place, and are owned by the model, so deleting the model
removes them. The pods bind to their own pod IP, read the engine store read-only, and take their
key for pseudonymous student ids from a Secret in the model's namespace. A fourth object, the
Secret `<pool>-credentials`, holds the camera logins of the streams the pool serves
(rollout/credentials.py); it is always mounted, `{}` when no stream needs a login, so a room
that gains a camera login never restarts the pods: they re-read the file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from classroom_operator.engines.build_jobs import STORE_PATH
from classroom_operator.engines.inventory import GpuClass, node_affinity, tolerations_of
from classroom_operator.names import (
    API_VERSION,
    COMPONENT_LABEL,
    FINGERPRINT_LABEL,
    GPU_CLASS_LABEL,
    INFERENCE_COMPONENT,
    MODEL_KIND,
    MODEL_LABEL,
    POOL_LABEL,
    PSEUDONYM_COMPONENT,
    managed_labels,
    model_label,
    slug,
    workload_labels,
)
from classroom_operator.rollout.classrooms import Room
from classroom_operator.settings import Settings
from classroom_operator.spec.model import ModelSpec
from classroom_operator.spec.pod_settings import PodSettings

CONTAINER = "serve"
PORT = 8080
ASSIGNMENT_PATH = "/etc/classroom/assignment"
ASSIGNMENT_FILE = "assignment.json"
SPOOL_PATH = "/var/spool/classroom"
CREDENTIALS_PATH = "/etc/classroom/credentials"
CREDENTIALS_FILE = "streams.json"
CREDENTIALS_SUFFIX = "-credentials"
PSEUDONYM_SECRET = "classroom-pseudonym-key"
PSEUDONYM_KEY = "key"
GPU_RESOURCE = "nvidia.com/gpu"
# The pod drains for 20 s on SIGTERM (the serve command's default) and needs a moment to exit.
GRACE_SECONDS = 30
# The StatefulSet controller labels each pod `controller-revision-hash: <name>-<10 chars>`, and a
# label value holds at most 63 characters.
POOL_NAME_MAX = 52
FINGERPRINT_CHARS = 8
DEFAULT_REQUESTS = {"cpu": "1", "memory": "1Gi"}


@dataclass(frozen=True)
class ModelRef:
    namespace: str
    name: str
    uid: str

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}"

    def owner_reference(self) -> dict[str, Any]:
        # blockOwnerDeletion would need update on classroommodels/finalizers wherever the
        # OwnerReferencesPermissionEnforcement admission plugin runs; the pools need not outlive
        # a model being deleted in the foreground.
        return {"apiVersion": API_VERSION, "kind": MODEL_KIND, "name": self.name,
                "uid": self.uid, "controller": True, "blockOwnerDeletion": False}


def pool_name(model: str, fingerprint: str) -> str:
    """`<model>-<fingerprint[:8]>`: the StatefulSet, its Service (a DNS-1035 label) and its
    assignment ConfigMap."""
    suffix = f"-{fingerprint[:FINGERPRINT_CHARS]}"
    return slug(model, POOL_NAME_MAX - len(suffix)) + suffix


@dataclass(frozen=True)
class Pool:
    model: ModelRef
    gpu: GpuClass
    fingerprint: str
    backend: str

    @property
    def name(self) -> str:
        return pool_name(self.model.name, self.fingerprint)

    def pod_name(self, ordinal: int) -> str:
        return f"{self.name}-{ordinal}"


def selector_labels(pool: Pool) -> dict[str, str]:
    return {COMPONENT_LABEL: INFERENCE_COMPONENT, POOL_LABEL: pool.name}


def pool_labels(pool: Pool) -> dict[str, str]:
    return {
        **workload_labels(INFERENCE_COMPONENT),
        **selector_labels(pool),
        MODEL_LABEL: model_label(pool.model.name),
        FINGERPRINT_LABEL: pool.fingerprint,
        GPU_CLASS_LABEL: pool.gpu.name,
    }


def _metadata(pool: Pool) -> dict[str, Any]:
    return {"name": pool.name, "namespace": pool.model.namespace, "labels": pool_labels(pool),
            "ownerReferences": [pool.model.owner_reference()]}


def _resources(pool: Pool, spec: ModelSpec) -> dict[str, Any]:
    """spec.serving.resources, with exactly one GPU for GPU classes and none for the CPU class
    (an extended resource's request defaults to its limit)."""
    given = spec.serving.resources
    requests = {k: v for k, v in (given.get("requests") or DEFAULT_REQUESTS).items()
                if k != GPU_RESOURCE}
    limits = {k: v for k, v in (given.get("limits") or {}).items() if k != GPU_RESOURCE}
    if pool.gpu.is_gpu:
        limits[GPU_RESOURCE] = 1
    resources: dict[str, Any] = {"requests": requests}
    if limits:
        resources["limits"] = limits
    return resources


def _environment(pod_settings: PodSettings) -> list[dict[str, Any]]:
    def field(path: str) -> dict[str, Any]:
        return {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}

    env: list[dict[str, Any]] = [
        {"name": "POD_NAME", "valueFrom": field("metadata.name")},
        {"name": "POD_NAMESPACE", "valueFrom": field("metadata.namespace")},
        {"name": "POD_IP", "valueFrom": field("status.podIP")},
        {"name": "CLASSROOM_ID_SECRET", "valueFrom": {"secretKeyRef": {
            "name": PSEUDONYM_SECRET, "key": PSEUDONYM_KEY}}},
        # Guards the pod's /v1/status and /v1/events (pod_client.py creates the Secret).
        {"name": "CLASSROOM_POD_API_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": "classroom-pod-api-token", "key": "token"}}},
    ]
    token = pod_settings.sink.token
    if token is not None:
        env.append({"name": "CLASSROOM_SINK_TOKEN", "valueFrom": {"secretKeyRef": {
            "name": token.name, "key": token.key}}})
    signing = pod_settings.sink.signing
    if signing is not None:
        # Optional: a Secret without the key sends unsigned deliveries, and the model's
        # WebhookSigned condition says so, instead of pods that cannot start.
        env.append({"name": "CLASSROOM_SINK_SIGNING_KEY", "valueFrom": {"secretKeyRef": {
            "name": signing.name, "key": signing.key, "optional": True}}})
    return env


def credentials_secret_name(pool_name: str) -> str:
    return pool_name + CREDENTIALS_SUFFIX


def _serve_command(pool: Pool, settings: Settings) -> list[str]:
    command = [
        "classroom-inference", "serve",
        "--store", STORE_PATH,
        "--fingerprint", pool.fingerprint,
        "--assignment", f"{ASSIGNMENT_PATH}/{ASSIGNMENT_FILE}",
        "--host", "$(POD_IP)",
        "--port", str(PORT),
        "--spool-dir", SPOOL_PATH,
        "--stream-credentials", f"{CREDENTIALS_PATH}/{CREDENTIALS_FILE}",
    ]
    if not settings.emotion_allowed:
        # The engine (and its fingerprint) keep the head; the pods drop its output.
        command += ["--emotion", "disabled"]
    return command


def _container(pool: Pool, spec: ModelSpec, pod_settings: PodSettings,
               settings: Settings) -> dict[str, Any]:
    def probe(path: str, period: int, failures: int) -> dict[str, Any]:
        return {"httpGet": {"path": path, "port": "http"}, "periodSeconds": period,
                "timeoutSeconds": 2, "failureThreshold": failures}

    return {
        "name": CONTAINER,
        "image": spec.engine.builder_image or settings.builder_image,
        "command": _serve_command(pool, settings),
        "env": _environment(pod_settings),
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        # Liveness answers while a large engine loads; readiness waits for the engine and the
        # assignment, and is checked often because rooms move to a pod once it is Ready.
        "livenessProbe": probe("/healthz", 10, 3),
        "readinessProbe": probe("/readyz", 2, 2),
        "resources": _resources(pool, spec),
        "volumeMounts": [
            {"name": "engines", "mountPath": STORE_PATH, "readOnly": True},
            {"name": "assignment", "mountPath": ASSIGNMENT_PATH, "readOnly": True},
            {"name": "credentials", "mountPath": CREDENTIALS_PATH, "readOnly": True},
            {"name": "spool", "mountPath": SPOOL_PATH},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


def statefulset(pool: Pool, spec: ModelSpec, pod_settings: PodSettings, settings: Settings,
                *, replicas: int) -> dict[str, Any]:
    """The pool's StatefulSet with `replicas` pods, all started at once (Parallel)."""
    placement = spec.serving.placement
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata(pool),
        "spec": {
            "replicas": replicas,
            "serviceName": pool.name,
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": selector_labels(pool)},
            "updateStrategy": {"type": "RollingUpdate"},
            "template": {
                "metadata": {"labels": pool_labels(pool)},
                "spec": {
                    "affinity": node_affinity(pool.gpu, placement),
                    # Pods of a pool on different nodes where they can be, so losing a node
                    # leaves most of the pool's classrooms served.
                    "topologySpreadConstraints": [{
                        "maxSkew": 1, "topologyKey": "kubernetes.io/hostname",
                        "whenUnsatisfiable": "ScheduleAnyway",
                        "labelSelector": {"matchLabels": selector_labels(pool)}}],
                    "tolerations": tolerations_of(placement),
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "terminationGracePeriodSeconds": GRACE_SECONDS,
                    "securityContext": {"runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [_container(pool, spec, pod_settings, settings)],
                    "volumes": [
                        {"name": "engines", "persistentVolumeClaim": {
                            "claimName": settings.engine_store_claim, "readOnly": True}},
                        {"name": "assignment", "configMap": {"name": pool.name}},
                        # Written before the StatefulSet; not optional, so a pod never starts
                        # without the logins of the cameras it serves.
                        {"name": "credentials", "secret": {
                            "secretName": credentials_secret_name(pool.name),
                            "optional": False}},
                        {"name": "spool", "emptyDir": {}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def headless_service(pool: Pool) -> dict[str, Any]:
    """Gives each pod a stable DNS name (`<pod>.<pool>.<namespace>.svc`)."""
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": _metadata(pool),
        "spec": {
            "clusterIP": "None",
            "selector": selector_labels(pool),
            "ports": [{"name": "http", "port": PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def stream_ids(room: Room) -> list[str]:
    """The ids of a room's streams in the assignment file and the pod's status document."""
    return [f"{room.name}-{index}" for index in range(len(room.streams))]


def assignment_document(model: ModelRef, fingerprint: str, *, generation: int,
                        pod_settings: PodSettings,
                        pods: Mapping[str, Sequence[Room]]) -> dict[str, Any]:
    """A pool's assignment file: every pod of the pool listed (an empty list serves nothing),
    each room with its streams; stream ids are `<room>-<index>`."""
    document: dict[str, Any] = {
        "model": model.key,
        "generation": generation,
        "fingerprint": fingerprint,
        "analysis": pod_settings.analysis.to_document(),
        "pods": {
            pod: [{"name": room.name, "streams": [
                {"id": stream_id, "url": stream.url, "layout": stream.layout}
                for stream_id, stream in zip(stream_ids(room), room.streams, strict=True)]}
                for room in rooms]
            for pod, rooms in sorted(pods.items())
        },
    }
    sink = pod_settings.sink.to_document()
    if sink:
        document["sink"] = sink
    return document


def assignment_text(document: Mapping[str, Any]) -> str:
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def assignment_configmap(pool: Pool, text: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata(pool),
        "data": {ASSIGNMENT_FILE: text},
    }


def credentials_secret(pool: Pool, data: Mapping[str, str]) -> dict[str, Any]:
    """The pool's camera logins (`data` is base64, as rollout/credentials.py makes it), owned
    by the model and labelled like the pool's other objects."""
    metadata = _metadata(pool)
    metadata["name"] = credentials_secret_name(pool.name)
    return {"apiVersion": "v1", "kind": "Secret", "type": "Opaque", "metadata": metadata,
            "data": dict(data)}


def pseudonym_secret(namespace: str, key: str) -> dict[str, Any]:
    """The namespace's key for pseudonymous student ids, created once and never rewritten, so a
    student keeps one id across pods, rollovers and models of the namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": {"name": PSEUDONYM_SECRET, "namespace": namespace,
                     "labels": managed_labels(PSEUDONYM_COMPONENT)},
        "stringData": {PSEUDONYM_KEY: key},
    }

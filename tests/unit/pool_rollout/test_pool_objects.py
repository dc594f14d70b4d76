"""A pool's StatefulSet, Service and assignment ConfigMap, as docs/contracts.md asks."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from classroom_inference.cli import build_parser
from classroom_inference.serving.assignment import parse_assignment
from classroom_inference.serving.cli import settings_from
from classroom_operator.engines.inventory import node_affinity, tolerations_of
from classroom_operator.rollout.classrooms import Room
from classroom_operator.rollout.pools import (
    Pool,
    assignment_configmap,
    assignment_document,
    assignment_text,
    headless_service,
    pseudonym_secret,
    selector_labels,
    statefulset,
)
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, Stream, parse_spec
from classroom_operator.spec.pod_settings import PodSettings, parse_pod_settings


def _pod_spec(sts: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = sts["spec"]["template"]["spec"]
    return spec


def _container(sts: dict[str, Any]) -> dict[str, Any]:
    containers = _pod_spec(sts)["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_the_pods_run_the_contracts_serve_command(gpu_pool: Pool, spec: ModelSpec,
                                                  pod_settings: PodSettings,
                                                  settings: Settings) -> None:
    container = _container(statefulset(gpu_pool, spec, pod_settings, settings, replicas=2))
    assert container["command"] == [
        "classroom-inference", "serve", "--store", "/var/lib/classroom/engines",
        "--fingerprint", "0123456789abcdef",
        "--assignment", "/etc/classroom/assignment/assignment.json",
        "--host", "$(POD_IP)", "--port", "8080", "--spool-dir", "/var/spool/classroom",
        "--stream-credentials", "/etc/classroom/credentials/streams.json",
    ]
    assert container["image"] == "registry.example.org/ci:0.1.0"


def test_the_serve_command_is_accepted_by_the_pod(gpu_pool: Pool, spec: ModelSpec,
                                                  pod_settings: PodSettings,
                                                  settings: Settings) -> None:
    """The data plane's own argument parser takes the command, as kubelet expands it."""
    command = _container(statefulset(gpu_pool, spec, pod_settings, settings, replicas=1))[
        "command"]
    argv = [part.replace("$(POD_IP)", "10.1.2.3") for part in command[1:]]
    args = build_parser().parse_args(argv)
    pod = settings_from(args, {"CLASSROOM_ID_SECRET": "k" * 32, "POD_NAME": "attention-0"})
    assert pod.engine_dir == Path("/var/lib/classroom/engines/0123456789abcdef")
    assert pod.assignment == Path("/etc/classroom/assignment/assignment.json")
    assert pod.spool_dir == Path("/var/spool/classroom")
    assert (args.host, args.port) == ("10.1.2.3", 8080)
    assert args.stream_credentials == Path("/etc/classroom/credentials/streams.json")


def test_an_engine_image_override_serves_with_the_image_that_built_it(
        gpu_pool: Pool, raw_spec: dict[str, Any], pod_settings: PodSettings,
        settings: Settings) -> None:
    raw_spec["engine"] = {"builderImage": "registry.example.org/trt:10.14.1"}
    sts = statefulset(gpu_pool, parse_spec(raw_spec), pod_settings, settings, replicas=1)
    assert _container(sts)["image"] == "registry.example.org/trt:10.14.1"


def test_environment_comes_from_the_downward_api_and_secrets(
        gpu_pool: Pool, spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
    env = {item["name"]: item["valueFrom"] for item in
           _container(statefulset(gpu_pool, spec, pod_settings, settings, replicas=1))["env"]}
    assert env["POD_NAME"] == {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}
    assert env["POD_NAMESPACE"]["fieldRef"]["fieldPath"] == "metadata.namespace"
    assert env["POD_IP"]["fieldRef"]["fieldPath"] == "status.podIP"
    assert env["CLASSROOM_ID_SECRET"] == {"secretKeyRef": {"name": "classroom-pseudonym-key",
                                                           "key": "key"}}
    assert env["CLASSROOM_SINK_TOKEN"] == {"secretKeyRef": {"name": "sink", "key": "token"}}
    # Optional, so a Secret without a signing key gives unsigned deliveries, not pods that
    # cannot start.
    assert env["CLASSROOM_SINK_SIGNING_KEY"] == {"secretKeyRef": {
        "name": "sink", "key": "signing-key", "optional": True}}


def test_no_sink_token_without_a_secret_ref(gpu_pool: Pool, spec: ModelSpec,
                                            settings: Settings) -> None:
    plain = parse_pod_settings({"sink": {"webhook": {"url": "https://labels.example.org/"}}})
    names = [item["name"] for item in
             _container(statefulset(gpu_pool, spec, plain, settings, replicas=1))["env"]]
    assert "CLASSROOM_SINK_TOKEN" not in names
    assert "CLASSROOM_SINK_SIGNING_KEY" not in names
    assert "POD_IP" in names


def test_pods_start_together_with_stable_names(gpu_pool: Pool, spec: ModelSpec,
                                               pod_settings: PodSettings,
                                               settings: Settings) -> None:
    sts = statefulset(gpu_pool, spec, pod_settings, settings, replicas=3)
    assert sts["metadata"]["name"] == gpu_pool.name == "attention-01234567"
    assert sts["metadata"]["namespace"] == "lincoln-high"
    assert sts["spec"]["replicas"] == 3
    assert sts["spec"]["podManagementPolicy"] == "Parallel"
    assert sts["spec"]["serviceName"] == gpu_pool.name
    selector = sts["spec"]["selector"]["matchLabels"]
    template_labels = sts["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= template_labels.items()
    assert template_labels["classroom-operator.io/fingerprint"] == "0123456789abcdef"
    assert template_labels["classroom-operator.io/gpu-class"] == \
        "nvidia-a100-sxm4-80gb-sm80-drv550"
    assert template_labels["classroom-operator.io/model"] == "attention"
    assert template_labels["app.kubernetes.io/component"] == "inference"


def test_owned_by_the_model(gpu_pool: Pool, spec: ModelSpec, pod_settings: PodSettings,
                            settings: Settings) -> None:
    objects = [statefulset(gpu_pool, spec, pod_settings, settings, replicas=1),
               headless_service(gpu_pool), assignment_configmap(gpu_pool, "{}")]
    for item in objects:
        (owner,) = item["metadata"]["ownerReferences"]
        assert owner["kind"] == "ClassroomModel"
        assert owner["apiVersion"] == "classroom-operator.io/v1alpha1"
        assert (owner["name"], owner["uid"], owner["controller"]) == \
            ("attention", "0b8e6f2a-uid", True)
        assert item["metadata"]["namespace"] == "lincoln-high"


def test_placed_on_the_gpu_class_like_its_build(gpu_pool: Pool, spec: ModelSpec,
                                                pod_settings: PodSettings,
                                                settings: Settings) -> None:
    pod = _pod_spec(statefulset(gpu_pool, spec, pod_settings, settings, replicas=1))
    assert pod["affinity"] == node_affinity(gpu_pool.gpu, spec.serving.placement)
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]
    assert {"key": "school", "operator": "In", "values": ["lincoln"]} in \
        terms[0]["matchExpressions"]
    assert pod["tolerations"] == tolerations_of(spec.serving.placement)
    assert pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    (spread,) = pod["topologySpreadConstraints"]
    assert spread["topologyKey"] == "kubernetes.io/hostname"
    assert spread["whenUnsatisfiable"] == "ScheduleAnyway"
    assert spread["labelSelector"]["matchLabels"] == selector_labels(gpu_pool)


def test_one_gpu_per_pod_on_gpu_classes_and_the_specs_resources(
        gpu_pool: Pool, cpu_pool: Pool, spec: ModelSpec, pod_settings: PodSettings,
        settings: Settings) -> None:
    gpu = _container(statefulset(gpu_pool, spec, pod_settings, settings, replicas=1))
    assert gpu["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}}
    cpu = _container(statefulset(cpu_pool, spec, pod_settings, settings, replicas=1))
    assert cpu["resources"] == {"requests": {"cpu": "2", "memory": "4Gi"},
                                "limits": {"memory": "8Gi"}}


def test_a_gpu_count_in_the_spec_cannot_ask_for_more_than_one(
        gpu_pool: Pool, cpu_pool: Pool, raw_spec: dict[str, Any], pod_settings: PodSettings,
        settings: Settings) -> None:
    raw_spec["serving"]["resources"] = {"limits": {"nvidia.com/gpu": 4},
                                        "requests": {"nvidia.com/gpu": 4}}
    spec = parse_spec(raw_spec)
    gpu = _container(statefulset(gpu_pool, spec, pod_settings, settings, replicas=1))
    assert gpu["resources"] == {"requests": {}, "limits": {"nvidia.com/gpu": 1}}
    cpu = _container(statefulset(cpu_pool, spec, pod_settings, settings, replicas=1))
    assert cpu["resources"] == {"requests": {}}


def test_default_requests_without_resources_in_the_spec(
        gpu_pool: Pool, raw_spec: dict[str, Any], pod_settings: PodSettings,
        settings: Settings) -> None:
    del raw_spec["serving"]["resources"]
    container = _container(statefulset(gpu_pool, parse_spec(raw_spec), pod_settings, settings,
                                       replicas=1))
    assert container["resources"]["requests"] == {"cpu": "1", "memory": "1Gi"}


def test_probes_volumes_and_a_restricted_security_context(
        gpu_pool: Pool, spec: ModelSpec, pod_settings: PodSettings, settings: Settings) -> None:
    sts = statefulset(gpu_pool, spec, pod_settings, settings, replicas=1)
    pod, container = _pod_spec(sts), _container(sts)
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["ports"] == [{"name": "http", "containerPort": 8080, "protocol": "TCP"}]
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert volumes["engines"]["persistentVolumeClaim"] == {"claimName": "classroom-engines",
                                                           "readOnly": True}
    assert volumes["assignment"]["configMap"] == {"name": gpu_pool.name}
    mounts = {m["mountPath"]: m for m in container["volumeMounts"]}
    assert mounts["/var/lib/classroom/engines"]["readOnly"] is True
    assert mounts["/etc/classroom/assignment"]["readOnly"] is True
    assert mounts["/var/spool/classroom"]["name"] == "spool"
    assert volumes["spool"] == {"name": "spool", "emptyDir": {}}
    assert pod["securityContext"] == {"runAsNonRoot": True,
                                      "seccompProfile": {"type": "RuntimeDefault"}}
    security = container["securityContext"]
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert pod["automountServiceAccountToken"] is False


def test_headless_service_selects_the_pools_pods(gpu_pool: Pool) -> None:
    service = headless_service(gpu_pool)
    assert service["metadata"]["name"] == gpu_pool.name
    assert service["spec"]["clusterIP"] == "None"
    assert service["spec"]["selector"] == selector_labels(gpu_pool)
    assert service["spec"]["ports"][0]["port"] == 8080


def _rooms() -> dict[str, list[Room]]:
    room_101 = Room("room-101", (Stream("rtsp://cam-101.lan/a", "per-student"),
                                 Stream("rtsp://cam-101.lan/b", "per-student")))
    room_102 = Room("room-102", (Stream("rtsp://cam-102.lan/room", "room"),))
    return {"attention-01234567-0": [room_101, room_102], "attention-01234567-1": []}


def test_assignment_file_is_what_the_pod_parses(gpu_pool: Pool,
                                                pod_settings: PodSettings) -> None:
    document = assignment_document(gpu_pool.model, gpu_pool.fingerprint, generation=4,
                                   pod_settings=pod_settings, pods=_rooms())
    text = assignment_configmap(gpu_pool, assignment_text(document))["data"]["assignment.json"]
    first = parse_assignment(json.loads(text), "attention-01234567-0")
    assert first.model == "lincoln-high/attention"
    assert (first.generation, first.fingerprint) == (4, "0123456789abcdef")
    assert first.analysis.distracted_after_seconds == 45
    assert first.sink_url == "https://labels.example.org/v1/events"
    assert [room.name for room in first.classrooms] == ["room-101", "room-102"]
    assert sorted(first.streams) == ["room-101-0", "room-101-1", "room-102-0"]
    assert first.streams["room-102-0"].layout == "room"
    idle = parse_assignment(json.loads(text), "attention-01234567-1")
    assert idle.listed and idle.classrooms == ()
    assert "token" not in text


def test_assignment_file_without_a_sink(gpu_pool: Pool) -> None:
    document = assignment_document(gpu_pool.model, gpu_pool.fingerprint, generation=1,
                                   pod_settings=parse_pod_settings({}),
                                   pods={"attention-01234567-0": []})
    assert "sink" not in document
    assert parse_assignment(document, "attention-01234567-0").sink_url is None


def test_pseudonym_secret_holds_the_key() -> None:
    secret = pseudonym_secret("lincoln-high", "r" * 43)
    assert secret["metadata"] == {
        "name": "classroom-pseudonym-key", "namespace": "lincoln-high",
        "labels": {"app.kubernetes.io/managed-by": "classroom-operator",
                   "app.kubernetes.io/component": "pseudonym-key"}}
    assert secret["stringData"] == {"key": "r" * 43}
    assert "ownerReferences" not in secret["metadata"]

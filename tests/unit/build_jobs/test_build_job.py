"""The desired build Job: one per fingerprint, on the class's nodes, as the builder expects."""

from __future__ import annotations

import json
from typing import Any

from classroom_operator.engines.build_jobs import (
    EngineNeed,
    build_job,
    build_spec_document,
    build_spec_hash,
)
from classroom_operator.engines.inventory import gpu_class_from_labels, node_affinity
from classroom_operator.settings import Settings
from classroom_operator.spec import ModelSpec, parse_spec


def _container(job: dict[str, Any]) -> dict[str, Any]:
    containers = job["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    container: dict[str, Any] = containers[0]
    return container


def test_named_and_labelled_by_fingerprint(gpu_need: EngineNeed, spec: ModelSpec,
                                           settings: Settings) -> None:
    job = build_job(gpu_need, spec, settings, attempt=2, requested_by="school/model")
    meta = job["metadata"]
    assert meta["name"] == "engine-build-0123456789abcdef"
    assert meta["namespace"] == "classroom-system"
    assert meta["labels"]["classroom-operator.io/fingerprint"] == "0123456789abcdef"
    assert meta["labels"]["classroom-operator.io/gpu-class"] == "nvidia-a100-sxm4-80gb-sm80-drv550"
    assert meta["annotations"]["classroom-operator.io/attempt"] == "2"
    assert job["spec"]["template"]["metadata"]["labels"] == meta["labels"]


def test_command_and_environment_follow_the_contract(gpu_need: EngineNeed, spec: ModelSpec,
                                                     settings: Settings) -> None:
    container = _container(build_job(gpu_need, spec, settings, attempt=1, requested_by="a/b"))
    assert container["command"] == [
        "classroom-inference", "build", "--fingerprint", "0123456789abcdef",
        "--backend", "tensorrt", "--gpu-class", "nvidia-a100-sxm4-80gb-sm80-drv550",
        "--store", "/var/lib/classroom/engines", "--termination-log", "/dev/termination-log",
    ]
    assert container["image"] == "registry.example.org/ci:0.1.0"
    assert container["terminationMessagePolicy"] == "FallbackToLogsOnError"
    env = {item["name"]: item["value"] for item in container["env"]}
    document = json.loads(env["CLASSROOM_BUILD_SPEC"])
    assert set(document) == {"model", "engine", "validation", "gpu"}
    assert document["model"]["sha256"] == "b" * 64
    assert document["model"]["outputs"] == {"emotion": "logits"}
    assert document["engine"]["batch"] == {"min": 1, "opt": 64, "max": 256}
    assert document["validation"]["minEmotionAgreement"] == 0.9
    assert document["gpu"] == {"product": "NVIDIA-A100-SXM4-80GB", "computeCapability": "8.0",
                               "driverMajor": 550}


def test_gpu_build_asks_for_one_gpu_and_mounts_the_store(gpu_need: EngineNeed, spec: ModelSpec,
                                                         settings: Settings) -> None:
    job = build_job(gpu_need, spec, settings, attempt=1, requested_by="a/b")
    container = _container(job)
    assert container["resources"]["limits"] == {"nvidia.com/gpu": 1}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["engines"] == "/var/lib/classroom/engines"
    volumes = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
    assert volumes["engines"]["persistentVolumeClaim"] == {"claimName": "classroom-engines"}


def test_cpu_build_asks_for_no_gpu(cpu_need: EngineNeed, spec: ModelSpec,
                                   settings: Settings) -> None:
    container = _container(build_job(cpu_need, spec, settings, attempt=1, requested_by="a/b"))
    assert "limits" not in container["resources"]
    assert "--backend" in container["command"]
    assert container["command"][container["command"].index("--backend") + 1] == "onnxruntime-cpu"


def test_deadline_backoff_ttl_and_permanent_exit_code(gpu_need: EngineNeed, spec: ModelSpec,
                                                      settings: Settings) -> None:
    job_spec = build_job(gpu_need, spec, settings, attempt=1, requested_by="a/b")["spec"]
    assert job_spec["activeDeadlineSeconds"] == 1800
    assert job_spec["backoffLimit"] == 1
    assert job_spec["ttlSecondsAfterFinished"] == 3600
    rule = job_spec["podFailurePolicy"]["rules"][0]
    assert rule["action"] == "FailJob"
    assert rule["onExitCodes"]["values"] == [2]
    assert job_spec["template"]["spec"]["restartPolicy"] == "Never"


def test_tolerations_and_owner_come_along(gpu_need: EngineNeed, spec: ModelSpec,
                                          settings: Settings) -> None:
    owner = {"apiVersion": "v1", "kind": "ConfigMap", "name": "classroom-engines", "uid": "u1"}
    job = build_job(gpu_need, spec, settings, attempt=1, requested_by="a/b", owner=owner)
    assert job["metadata"]["ownerReferences"] == [owner]
    assert job["spec"]["template"]["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]


def test_builder_image_override(gpu_need: EngineNeed, raw_spec: dict[str, Any],
                                settings: Settings) -> None:
    raw_spec["engine"] = {"builderImage": "mirror.example.org/ci:0.1.0"}
    container = _container(build_job(gpu_need, parse_spec(raw_spec), settings, attempt=1,
                                     requested_by="a/b"))
    assert container["image"] == "mirror.example.org/ci:0.1.0"


def _matches(affinity: dict[str, Any], labels: dict[str, str]) -> bool:
    """Kubernetes' required node affinity: any term, all expressions of it."""
    terms = affinity["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
        "nodeSelectorTerms"]

    def holds(expression: dict[str, Any]) -> bool:
        value = labels.get(expression["key"])
        if expression["operator"] == "In":
            return value in expression["values"]
        if expression["operator"] == "DoesNotExist":
            return value is None
        raise AssertionError(expression)

    return any(all(holds(e) for e in term["matchExpressions"]) for term in terms)


GPU_LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
              "nvidia.com/gpu.compute.major": "8", "nvidia.com/gpu.compute.minor": "0",
              "nvidia.com/cuda.driver-version.major": "550", "school": "lincoln"}


def test_affinity_selects_exactly_the_class_nodes(gpu_need: EngineNeed, spec: ModelSpec) -> None:
    affinity = node_affinity(gpu_need.gpu, spec.serving.placement)
    older = {k.replace("driver-version", "driver"): v for k, v in GPU_LABELS.items()}
    assert _matches(affinity, GPU_LABELS)
    assert _matches(affinity, older)
    for key, value in [("nvidia.com/cuda.driver-version.major", "580"),
                       ("nvidia.com/gpu.product", "NVIDIA-H100-80GB-HBM3"),
                       ("nvidia.com/gpu.compute.minor", "6"), ("school", "other")]:
        assert not _matches(affinity, {**GPU_LABELS, key: value})
    # What the affinity selects is what the inventory calls this class.
    assert gpu_class_from_labels(GPU_LABELS) == gpu_need.gpu


def test_cpu_affinity_avoids_gpu_nodes(cpu_need: EngineNeed, spec: ModelSpec) -> None:
    affinity = node_affinity(cpu_need.gpu, spec.serving.placement)
    assert _matches(affinity, {"school": "lincoln"})
    assert not _matches(affinity, GPU_LABELS)


def test_spec_hash_tracks_what_the_builder_is_asked(gpu_need: EngineNeed,
                                                    raw_spec: dict[str, Any]) -> None:
    base = build_spec_hash(build_spec_document(parse_spec(raw_spec), gpu_need.gpu))
    raw_spec["model"]["uri"] = "https://mirror.example.org/a.onnx"
    moved = build_spec_hash(build_spec_document(parse_spec(raw_spec), gpu_need.gpu))
    raw_spec["serving"]["nodeSelector"] = {}
    unrelated = build_spec_hash(build_spec_document(parse_spec(raw_spec), gpu_need.gpu))
    assert moved != base
    assert unrelated == moved

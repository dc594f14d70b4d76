"""The build Job for one engine fingerprint, as the builder expects it (docs/contracts.md).

One Job per fingerprint, named `engine-build-<fingerprint>` in the operator's namespace, so every
ClassroomModel needing the same engine finds the same Job and a restart can never create a second.
ClassroomModels live in other namespaces and owner references cannot cross namespaces, so the Job
is owned by the engine catalogue (catalogue.py) in its own namespace instead, and the operator
deletes it when no model needs its fingerprint any more.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from classroom_operator.engines.inventory import GpuClass, node_affinity, tolerations_of
from classroom_operator.names import (
    ATTEMPT_ANNOTATION,
    BUILD_COMPONENT,
    BUILD_SPEC_HASH_ANNOTATION,
    FINGERPRINT_LABEL,
    GPU_CLASS_LABEL,
    REQUESTED_BY_ANNOTATION,
    workload_labels,
)
from classroom_operator.settings import Settings
from classroom_operator.spec.model import Engine, Model, ModelSpec, Validation

STORE_PATH = "/var/lib/classroom/engines"
TERMINATION_LOG = "/dev/termination-log"
CONTAINER = "build"
PERMANENT_EXIT_CODE = 2


@dataclass(frozen=True)
class EngineNeed:
    """One engine a model needs: a fingerprint and what it is built for."""

    fingerprint: str
    gpu: GpuClass
    backend: str


def job_name(fingerprint: str) -> str:
    return f"engine-build-{fingerprint}"


def backend_for(gpu: GpuClass, gpu_backend: str) -> str:
    """GPU classes use the chart's backend; the CPU class always runs ONNX Runtime on the CPU."""
    return gpu_backend if gpu.is_gpu else "onnxruntime-cpu"


def _model_document(model: Model) -> dict[str, Any]:
    heads = {"attention": model.outputs.attention, "emotion": model.outputs.emotion,
             "engagement": model.outputs.engagement}
    return {
        "uri": model.uri,
        "sha256": model.sha256,
        "input": {
            "name": model.input.name,
            "shape": [model.input.channels, model.input.height, model.input.width],
            "layout": model.input.layout,
            "colorOrder": model.input.color_order,
            "mean": list(model.input.mean),
            "std": list(model.input.std),
        },
        "outputs": {head: name for head, name in heads.items() if name is not None},
        "emotionLabels": list(model.emotion_labels),
    }


def _engine_document(engine: Engine) -> dict[str, Any]:
    document: dict[str, Any] = {
        "precision": engine.precision,
        "batch": {"min": engine.batch.min, "opt": engine.batch.opt, "max": engine.batch.max},
        "workspaceMiB": engine.workspace_mib,
        "timingCache": engine.timing_cache,
        "hardwareCompatibility": engine.hardware_compatibility,
        "versionCompatible": engine.version_compatible,
    }
    if engine.calibration is not None:
        document["calibration"] = {"uri": engine.calibration.uri,
                                   "sha256": engine.calibration.sha256,
                                   "samples": engine.calibration.samples}
    return document


def _validation_document(validation: Validation) -> dict[str, Any]:
    document: dict[str, Any] = {
        "samples": validation.samples,
        "maxAttentionError": validation.max_attention_error,
        "minEmotionAgreement": validation.min_emotion_agreement,
        "maxEngagementError": validation.max_engagement_error,
        "maxLatencyRegressionPercent": validation.max_latency_regression_percent,
    }
    if validation.uri is not None:
        document["uri"] = validation.uri
        document["sha256"] = validation.sha256
    return document


def build_spec_document(spec: ModelSpec, gpu: GpuClass) -> dict[str, Any]:
    """CLASSROOM_BUILD_SPEC: the spec's model, engine and validation (defaults filled), plus GPU."""
    return {
        "model": _model_document(spec.model),
        "engine": _engine_document(spec.engine),
        "validation": _validation_document(spec.validation),
        "gpu": {"product": gpu.product, "computeCapability": gpu.compute_capability,
                "driverMajor": gpu.driver_major},
    }


def build_spec_hash(document: dict[str, Any]) -> str:
    """Identifies what a Job was asked to build, so a fixed spec can retry a failed build."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def build_job(need: EngineNeed, spec: ModelSpec, settings: Settings, *, attempt: int,
              requested_by: str, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    """The desired build Job for `need`, attempt number `attempt` (pure)."""
    document = build_spec_document(spec, need.gpu)
    labels = {
        **workload_labels(BUILD_COMPONENT),
        FINGERPRINT_LABEL: need.fingerprint,
        GPU_CLASS_LABEL: need.gpu.name,
    }
    resources: dict[str, Any] = {"requests": {"cpu": "1", "memory": "2Gi"}}
    if need.gpu.is_gpu:
        resources["limits"] = {"nvidia.com/gpu": 1}
    metadata: dict[str, Any] = {
        "name": job_name(need.fingerprint),
        "namespace": settings.namespace,
        "labels": labels,
        "annotations": {
            ATTEMPT_ANNOTATION: str(attempt),
            BUILD_SPEC_HASH_ANNOTATION: build_spec_hash(document),
            REQUESTED_BY_ANNOTATION: requested_by,
        },
    }
    if owner is not None:
        metadata["ownerReferences"] = [owner]
    container = {
        "name": CONTAINER,
        "image": spec.engine.builder_image or settings.builder_image,
        "command": [
            "classroom-inference", "build",
            "--fingerprint", need.fingerprint,
            "--backend", need.backend,
            "--gpu-class", need.gpu.name,
            "--store", STORE_PATH,
            "--termination-log", TERMINATION_LOG,
        ],
        "env": [{"name": "CLASSROOM_BUILD_SPEC",
                 "value": json.dumps(document, sort_keys=True, separators=(",", ":"))}],
        "resources": resources,
        "terminationMessagePath": TERMINATION_LOG,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        "volumeMounts": [{"name": "engines", "mountPath": STORE_PATH},
                         {"name": "tmp", "mountPath": "/tmp"}],
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
        },
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": metadata,
        "spec": {
            "backoffLimit": settings.build_backoff_limit,
            "activeDeadlineSeconds": settings.build_deadline_seconds,
            "ttlSecondsAfterFinished": settings.build_ttl_seconds,
            # Exit code 2 is the builder's "bad input": retrying the pod cannot help.
            # Evictions and preemptions are the cluster's doing and do not count as failures.
            "podFailurePolicy": {"rules": [
                {"action": "FailJob", "onExitCodes": {
                    "containerName": CONTAINER, "operator": "In",
                    "values": [PERMANENT_EXIT_CODE]}},
                {"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget"}]},
            ]},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "restartPolicy": "Never",
                    "affinity": node_affinity(need.gpu, spec.serving.placement),
                    "tolerations": tolerations_of(spec.serving.placement),
                    "securityContext": {"runAsNonRoot": True,
                                        "seccompProfile": {"type": "RuntimeDefault"}},
                    "containers": [container],
                    "volumes": [
                        {"name": "engines",
                         "persistentVolumeClaim": {"claimName": settings.engine_store_claim}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }

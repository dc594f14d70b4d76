"""The lifecycle on containers: the chart's operator, running from its image on a real kubelet
under the restricted Pod Security Standard, takes a ClassroomModel from Building to Ready. Its
build Job runs the data-plane image on the node its GFD labels select and writes the engine to
the PersistentVolume; its pool's inference pod serves it and every camera stream is healthy. The
node's driver upgrade (GFD relabels it) rebuilds the engine and rolls the pool over, every room
assigned throughout."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import numpy as np
from classroom_inference.builder.reference_model import reference_model, reference_spec
from classroom_operator.engines.build_jobs import STORE_PATH
from integration.chart.release import Release
from integration.containers.conftest import (
    APP_UID,
    NODE,
    TOLERATION,
    ContainerCluster,
    Restricted,
)
from localcluster.nodes import driver_labels
from streams.videos import face, write_video

MODEL = "attention-containers"
SIZE = 64
ROOMS = ("room-201", "room-202")
GPU_CLASS = "nvidia-l4-sm89-drv550"
UPGRADED_CLASS = "nvidia-l4-sm89-drv580"


def _on_the_store(restricted: Restricted) -> tuple[dict[str, object], list[str]]:
    """The reference model and one recorded camera per room, in the engine store's folder: the
    pods that mount the store read them there (a path on this machine means nothing inside a
    container)."""
    inputs = restricted.store / "inputs"
    inputs.mkdir()
    data = reference_model(SIZE, 3).SerializeToString()
    (inputs / "model.onnx").write_bytes(data)
    tile = face(96).astype("float32")

    def draw(i: int) -> Any:
        grey = np.clip(tile * (1.1 if i < 60 else 0.3), 0, 255).astype(np.uint8)
        return np.repeat(grey[:, :, None], 3, axis=2)

    urls = []
    for room in ROOMS:
        write_video(inputs / f"{room}.mp4", 150, draw, fps=15)
        urls.append(f"file://{STORE_PATH}/inputs/{room}.mp4?loop=1")
    for path in [inputs, *inputs.iterdir()]:
        os.chown(path, APP_UID, APP_UID)
    model = reference_spec(f"file://{STORE_PATH}/inputs/model.onnx",
                           hashlib.sha256(data).hexdigest(), SIZE, 3)
    # The chart's default policy (compliance.emotion=disabled) refuses a model mapping emotion.
    model["outputs"].pop("emotion", None)
    return model, urls


def test_a_model_goes_ready_with_every_pod_a_container(
        containers: ContainerCluster, restricted: Restricted, operator_image: str,
        inference_image: str) -> None:
    model, urls = _on_the_store(restricted)
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
        release.rollout()
        containers.apply({
            "apiVersion": "classroom-operator.io/v1alpha1", "kind": "ClassroomModel",
            "metadata": {"name": MODEL, "namespace": restricted.name},
            "spec": {
                "model": model,
                "engine": {"batch": {"min": 1, "opt": 4, "max": 8}},
                "validation": {"samples": 16},
                "serving": {"targetFps": 5, "replicas": {"min": 1, "max": 1},
                            "tolerations": [TOLERATION],
                            "resources": {"requests": {"cpu": "200m", "memory": "512Mi"}}},
                "classrooms": [{"name": room, "streams": [{"url": url}]}
                               for room, url in zip(ROOMS, urls, strict=True)],
            },
        })

        def ready() -> dict[str, Any] | None:
            status = containers.get("classroommodel", MODEL, restricted.name).get("status", {})
            streams = status.get("streams", {})
            done = status.get("phase") == "Ready" and streams.get("healthy") == len(ROOMS)
            return status if done else None

        status = containers.wait(f"ClassroomModel {MODEL} Ready with every stream healthy",
                                 ready, timeout=420, namespace=restricted.name)
        [engine] = status["engines"]
        assert engine["gpuClass"] == GPU_CLASS and engine["state"] == "Ready"
        meta = json.loads((restricted.store / engine["fingerprint"] / "meta.json").read_text())
        assert meta["backend"] == "onnxruntime-cpu"
        [pool] = status["pools"]
        assert pool["gpuClass"] == GPU_CLASS and pool["readyReplicas"] == 1

        pods = json.loads(containers.kubectl(
            "get", "pods", "-n", restricted.name, "-o", "json"))["items"]
        serving = [p for p in pods if p["metadata"]["labels"].get(
            "classroom-operator.io/fingerprint") == engine["fingerprint"]
            and p["status"].get("phase") == "Running"]
        assert serving, [p["metadata"]["name"] for p in pods]
        for pod in pods:
            assert pod["spec"]["nodeName"] == NODE
            for container in pod["status"].get("containerStatuses", []):
                assert container["containerID"].startswith("containerd://")

        containers.cluster.relabel_node(NODE, dict(driver_labels("580.65.06")))
        unassigned: list[dict[str, Any]] = []

        def rolled_over() -> dict[str, Any] | None:
            status = containers.get("classroommodel", MODEL, restricted.name).get("status", {})
            streams = status.get("streams", {})
            if streams.get("assigned", 0) < len(ROOMS):
                unassigned.append(streams)
            pools = [p["gpuClass"] for p in status.get("pools") or []]
            done = (pools == [UPGRADED_CLASS] and status.get("phase") == "Ready"
                    and streams.get("healthy") == len(ROOMS))
            return status if done else None

        upgraded = containers.wait("the pool rolled over to the driver 580 engine", rolled_over,
                                   timeout=420, namespace=restricted.name)
        assert not unassigned, unassigned
        rebuilt = {e["gpuClass"]: e for e in upgraded["engines"]}[UPGRADED_CLASS]
        assert rebuilt["state"] == "Ready" and rebuilt["fingerprint"] != engine["fingerprint"]
        assert (restricted.store / rebuilt["fingerprint"] / "meta.json").is_file()
    finally:
        containers.kubectl("delete", "classroommodel", MODEL, "-n", restricted.name,
                           "--ignore-not-found", "--wait=true", "--timeout=60s")
        release.uninstall()

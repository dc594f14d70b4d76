"""The engine fingerprint: stable, sensitive to every input that changes the engine, and blind to
everything that does not."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from classroom_operator.engines.fingerprint import engine_fingerprint
from classroom_operator.engines.inventory import GpuClass, gpu_class_from_labels
from classroom_operator.spec import ModelSpec, parse_spec

OPERATOR = Path(__file__).resolve().parents[3] / "operator"
# The fingerprint of the conftest's spec on an A100 with the tensorrt backend and TensorRT
# 10.13.3. It names engines already in stores: if this changes, every engine is rebuilt, so a
# change here must be deliberate (and bump fingerprint.SCHEME).
KNOWN = "68d1e46020a7fe5d"
# The canonical document behind KNOWN, written out: the hash is of exactly these bytes.
CANONICAL = (
    '{"backend":"tensorrt","engine":{"batch":[1,64,256],"calibration":null,'
    '"hardwareCompatibility":"none","precision":"fp16","timingCache":true,'
    '"versionCompatible":false,"workspaceMiB":2048},"gpu":{"computeCapability":"8.0",'
    '"driverMajor":550,"product":"NVIDIA-A100-SXM4-80GB"},"model":{"emotionLabels":["angry",'
    '"disgust","fear","happy","sad","surprise","neutral"],"input":{"colorOrder":"RGB",'
    '"layout":"NCHW","mean":[0.485,0.456,0.406],"name":"input","shape":[3,224,224],'
    '"std":[0.229,0.224,0.225]},"outputs":{"attention":"att","emotion":"logits",'
    '"engagement":"eng"},"sha256":"' + "0123456789abcdef" * 4 + '"},"scheme":1,'
    '"toolchain":"tensorrt:10.13.3"}'
)


def fp(spec: ModelSpec, gpu: GpuClass, backend: str = "tensorrt", trt: str = "10.13.3") -> str:
    return engine_fingerprint(spec.model, spec.engine, gpu, backend, trt)


def test_known_vector(spec: ModelSpec, a100: GpuClass) -> None:
    assert fp(spec, a100) == KNOWN
    assert hashlib.sha256(CANONICAL.encode("ascii")).hexdigest()[:16] == KNOWN


def test_same_across_processes_and_hash_seeds(spec: ModelSpec, a100: GpuClass) -> None:
    program = (
        "from classroom_operator.engines.fingerprint import engine_fingerprint\n"
        "from classroom_operator.engines.inventory import GpuClass\n"
        "from classroom_operator.spec import parse_spec\n"
        "import json, sys\n"
        "spec = parse_spec(json.loads(sys.argv[1]))\n"
        "gpu = GpuClass('NVIDIA-A100-SXM4-80GB', '8.0', 550)\n"
        "print(engine_fingerprint(spec.model, spec.engine, gpu, 'tensorrt', '10.13.3'))\n"
    )
    raw = {"model": {"uri": spec.model.uri, "sha256": spec.model.sha256,
                     "outputs": {"attention": "att", "emotion": "logits", "engagement": "eng"}},
           "engine": {"batch": {"min": 1, "opt": 64, "max": 256}}}
    for seed in ("0", "1", "4242"):
        result = subprocess.run(
            [sys.executable, "-c", program, json.dumps(raw)], capture_output=True, text=True,
            check=True, env={**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(OPERATOR)},
        )
        assert result.stdout.strip() == fp(spec, a100)


@pytest.mark.parametrize(("path", "value"), [
    ("model.sha256", "f" * 64),
    ("model.input.shape", [3, 112, 112]),
    ("model.input.name", "pixels"),
    ("model.input.layout", "NHWC"),
    ("model.input.colorOrder", "BGR"),
    ("model.input.mean", [0.5, 0.5, 0.5]),
    ("model.input.std", [0.5, 0.5, 0.5]),
    ("model.outputs", {"attention": "att"}),
    ("model.emotionLabels", ["calm", "upset"]),
    ("engine.precision", "fp32"),
    ("engine.batch", {"min": 1, "opt": 32, "max": 256}),
    ("engine.batch", {"min": 1, "opt": 64, "max": 512}),
    ("engine.workspaceMiB", 4096),
    ("engine.timingCache", False),
    ("engine.hardwareCompatibility", "ampere+"),
    ("engine.versionCompatible", True),
    ("engine.builderImage", "registry.example.org/classroom-inference:trt11"),
])
def test_sensitive_to_every_engine_input(raw_spec: dict[str, Any], a100: GpuClass, path: str,
                                         value: Any) -> None:
    changed = copy.deepcopy(raw_spec)
    *parents, last = path.split(".")
    target = changed
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value
    assert fp(parse_spec(changed), a100) != fp(parse_spec(raw_spec), a100)


def test_sensitive_to_calibration_data(raw_spec: dict[str, Any], a100: GpuClass) -> None:
    raw_spec["engine"]["precision"] = "int8"
    raw_spec["engine"]["calibration"] = {"uri": "s3://data/cal.tar", "sha256": "c" * 64}
    base = fp(parse_spec(raw_spec), a100)
    other_data = copy.deepcopy(raw_spec)
    other_data["engine"]["calibration"]["sha256"] = "d" * 64
    more_samples = copy.deepcopy(raw_spec)
    more_samples["engine"]["calibration"]["samples"] = 512
    assert len({base, fp(parse_spec(other_data), a100), fp(parse_spec(more_samples), a100)}) == 3


def test_sensitive_to_gpu_driver_backend_and_tensorrt(spec: ModelSpec, a100: GpuClass) -> None:
    values = {
        fp(spec, a100),
        fp(spec, GpuClass("NVIDIA-H100-80GB-HBM3", "8.0", 550)),
        fp(spec, GpuClass("NVIDIA-A100-SXM4-80GB", "8.6", 550)),
        fp(spec, GpuClass("NVIDIA-A100-SXM4-80GB", "8.0", 580)),
        fp(spec, a100, backend="onnxruntime-cuda"),
        fp(spec, a100, trt="11.0.0"),
        fp(spec, GpuClass(), backend="onnxruntime-cpu"),
    }
    assert len(values) == 7


def test_onnxruntime_engines_ignore_the_tensorrt_version(spec: ModelSpec) -> None:
    cpu = GpuClass()
    assert fp(spec, cpu, "onnxruntime-cpu", "10.13.3") == fp(spec, cpu, "onnxruntime-cpu", "11.0")


@pytest.mark.parametrize(("path", "value"), [
    ("model.uri", "s3://models/attention.onnx"),
    ("validation", {"maxAttentionError": 0.2, "samples": 64}),
    ("serving", {"targetFps": 5, "nodeSelector": {"school": "x"}}),
    ("analysis", {"distractedAfterSeconds": 10}),
    ("classrooms", [{"name": "room-1", "streams": [{"url": "rtsp://cam/1"}]}]),
])
def test_blind_to_what_does_not_change_the_engine(raw_spec: dict[str, Any], a100: GpuClass,
                                                  path: str, value: Any) -> None:
    changed = copy.deepcopy(raw_spec)
    section, _, key = path.partition(".")
    if key:
        changed[section][key] = value
    else:
        changed[section] = value
    assert fp(parse_spec(changed), a100) == fp(parse_spec(raw_spec), a100)


def test_emotion_labels_do_not_matter_without_an_emotion_head(raw_spec: dict[str, Any],
                                                              a100: GpuClass) -> None:
    raw_spec["model"]["outputs"] = {"attention": "att"}
    relabelled = copy.deepcopy(raw_spec)
    relabelled["model"]["emotionLabels"] = ["x", "y"]
    assert fp(parse_spec(relabelled), a100) == fp(parse_spec(raw_spec), a100)


def test_blind_to_gfd_label_noise(spec: ModelSpec) -> None:
    labels = {
        "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB",
        "nvidia.com/gpu.compute.major": "8", "nvidia.com/gpu.compute.minor": "0",
        "nvidia.com/cuda.driver-version.major": "550",
        "nvidia.com/cuda.driver-version.minor": "54",
        "nvidia.com/gfd.timestamp": "1",
    }
    later = {**labels, "nvidia.com/cuda.driver-version.minor": "127",
             "nvidia.com/cuda.driver-version.revision": "8", "nvidia.com/gfd.timestamp": "999"}
    older_names = {key.replace("driver-version", "driver"): value for key, value in labels.items()}
    classes = [gpu_class_from_labels(x) for x in (labels, later, older_names)]
    assert all(gpu is not None for gpu in classes)
    assert len({fp(spec, gpu) for gpu in classes if gpu is not None}) == 1

"""The engine fingerprint: the key of the engine store, the build Job's name and a label.

Two nodes share an engine exactly when their fingerprints are equal, so the fingerprint covers
everything that makes an engine loadable and fast there (DESIGN.md "Engine fingerprint") and
nothing else:

- the ONNX file (its sha256) and what the builder fuses into the graph: input name, shape,
  layout, channel order, mean and std, the output heads and emotion labels;
- precision, and for int8 the calibration data (sha256 and sample count);
- the batch profile, workspace, timing cache and the compatibility flags
  (hardwareCompatibility, versionCompatible);
- the toolchain: the TensorRT version of the builder image for the tensorrt backend, or the
  model's own builderImage when it overrides the chart's (its TensorRT version is unknown to us,
  so the image itself stands for it); ONNX Runtime engines do not depend on TensorRT;
- the backend, the GPU class (product and compute capability) and the CUDA driver major.

Validation thresholds, the model's URI (the sha256 pins its bytes), serving and the classrooms are
left out: changing them must not rebuild anything. Node labels reach it only through `GpuClass`,
so label noise (gfd.timestamp, driver minor and revision) cannot change it.

Stable across runs and Python versions: a canonical JSON document (sorted keys, no whitespace,
ASCII, floats written by `repr`'s shortest round-trip form) hashed with sha256; the first 16 hex
characters (64 bits) are the fingerprint. `SCHEME` is in the document, so changing what goes in
is a deliberate, visible step.
"""

from __future__ import annotations

import hashlib
import json
from functools import lru_cache
from typing import Any

from classroom_operator.engines.inventory import GpuClass
from classroom_operator.spec.model import Engine, Model

SCHEME = 1


def fingerprint_document(model: Model, engine: Engine, gpu: GpuClass, backend: str,
                         tensorrt_version: str) -> dict[str, Any]:
    """The inputs of the fingerprint as one JSON-ready document."""
    if engine.builder_image is not None:
        toolchain = f"image:{engine.builder_image}"
    elif backend == "tensorrt":
        toolchain = f"tensorrt:{tensorrt_version}"
    else:
        toolchain = None
    calibration = engine.calibration
    return {
        "scheme": SCHEME,
        "model": {
            "sha256": model.sha256,
            "input": {
                "name": model.input.name,
                "shape": [model.input.channels, model.input.height, model.input.width],
                "layout": model.input.layout,
                "colorOrder": model.input.color_order,
                "mean": list(model.input.mean),
                "std": list(model.input.std),
            },
            "outputs": {
                "attention": model.outputs.attention,
                "emotion": model.outputs.emotion,
                "engagement": model.outputs.engagement,
            },
            "emotionLabels": list(model.emotion_labels) if model.outputs.emotion else None,
        },
        "engine": {
            "precision": engine.precision,
            "calibration": None if calibration is None else {
                "sha256": calibration.sha256, "samples": calibration.samples,
            },
            "batch": [engine.batch.min, engine.batch.opt, engine.batch.max],
            "workspaceMiB": engine.workspace_mib,
            "timingCache": engine.timing_cache,
            "hardwareCompatibility": engine.hardware_compatibility,
            "versionCompatible": engine.version_compatible,
        },
        "toolchain": toolchain,
        "backend": backend,
        "gpu": {
            "product": gpu.product,
            "computeCapability": gpu.compute_capability,
            "driverMajor": gpu.driver_major,
        },
    }


# Asked for every GPU class of every model at every pass; its inputs are frozen and hashable.
@lru_cache(maxsize=8192)
def engine_fingerprint(model: Model, engine: Engine, gpu: GpuClass, backend: str,
                       tensorrt_version: str) -> str:
    """16 lowercase hex characters naming the engine these inputs build (see module docstring)."""
    document = fingerprint_document(model, engine, gpu, backend, tensorrt_version)
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=True,
                           allow_nan=False)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()[:16]

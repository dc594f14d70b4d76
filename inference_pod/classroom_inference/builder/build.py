"""One engine build, step by step: fetch, check, fuse, precision, engine, validate, measure, store.

Each step raises a typed BuildError (errors.py) naming the spec field and the fix. Downloads and
intermediate graphs live in a private work folder; only the final engine, meta.json and
validation.json enter the store, through a staging folder renamed into place once validated.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from classroom_inference import __version__
from classroom_inference.builder.engine_onnxruntime import (
    ONNXRUNTIME_BACKENDS,
    build_onnxruntime_engine,
)
from classroom_inference.builder.errors import (
    BackendUnavailable,
    CalibrationFailed,
    EngineBuildFailed,
    SamplesInvalid,
    StoreFailed,
)
from classroom_inference.builder.fetch import FetchPolicy, fetch, sha256_file
from classroom_inference.builder.heads import (
    apply_activations,
    check_widths,
    decide_activations,
    degenerate_heads,
    heads_document,
)
from classroom_inference.builder.measure import Performance, batch_sizes, measure
from classroom_inference.builder.model_check import check_model
from classroom_inference.builder.precision import apply_precision
from classroom_inference.builder.preprocess import ENGINE_INPUT, fuse_preprocessing
from classroom_inference.builder.report import Progress
from classroom_inference.builder.samples import load_images, synthetic_faces
from classroom_inference.builder.spec import HEADS, BuildSpec
from classroom_inference.builder.store import EngineStore, Staging
from classroom_inference.builder.validate import (
    ValidationReport,
    compare,
    open_reference,
    raise_if_failed,
    reference_infer,
    run_in_batches,
)
from classroom_inference.runners import BackendUnavailable as RunnerUnavailable
from classroom_inference.runners import Runner, RunnerError, open_runner

BACKENDS = ("tensorrt", *ONNXRUNTIME_BACKENDS)
VALIDATION_SEED = 1


@dataclass(frozen=True)
class BuildRequest:
    fingerprint: str
    backend: str
    gpu_class: str
    store: Path
    spec: BuildSpec
    fetch_policy: FetchPolicy = field(default_factory=FetchPolicy)
    measure_seconds: float = 1.0


@dataclass(frozen=True)
class BuildResult:
    reason: str  # Built | Reused
    meta: dict[str, Any]
    validation: dict[str, Any]


def build_engine(request: BuildRequest, progress: Progress) -> BuildResult:
    started = time.monotonic()
    store = EngineStore(request.store)
    existing = store.intact(request.fingerprint)
    if existing is not None:
        progress.log(f"engine {request.fingerprint} is already in the store; reusing it")
        validation = _read_validation(store.engine_dir(request.fingerprint))
        return BuildResult("Reused", existing, validation)
    store.check_writable()
    with tempfile.TemporaryDirectory(prefix="classroom-build-") as scratch:
        return _build(request, store, Path(scratch), progress, started)


def _read_validation(folder: Path) -> dict[str, Any]:
    doc = json.loads((folder / "validation.json").read_text())
    keys = ("attentionMae", "emotionAgreement", "engagementMae", "passed")
    return {k: doc.get(k) for k in keys}


def _build(request: BuildRequest, store: EngineStore, work: Path, progress: Progress,
           started: float) -> BuildResult:
    spec = request.spec
    shape = (spec.model.input.height, spec.model.input.width, spec.model.input.channels)

    progress.step("fetch", spec.model.uri)
    model_path = fetch(spec.model.uri, work / "model", field="spec.model.uri",
                       policy=request.fetch_policy, expected_sha256=spec.model.sha256)

    progress.step("check", model_path.name)
    checked = check_model(model_path, spec.model, spec.engine.batch)
    reference = open_reference(model_path)
    crops, source = _validation_crops(request, work, shape)
    raw = _reference_outputs(request, reference, crops, checked.fixed_batch)
    check_widths(raw, spec.model)
    activations = decide_activations(raw)
    expected = apply_activations(raw, activations)
    warnings = tuple(degenerate_heads(expected, spec.model.emotion_labels, source))
    progress.log("heads " + " ".join(f"{h}={a}" for h, a in sorted(activations.items())))
    for warning in warnings:
        progress.log(f"warning {warning}")

    progress.step("preprocess", "uint8 NHWC crops fused into the graph")
    fused = fuse_preprocessing(checked.model, spec.model, checked.fixed_batch, activations)

    progress.step("precision", spec.engine.precision)

    def calibration() -> np.ndarray:
        cal = spec.engine.calibration
        if cal.uri is None:
            raise CalibrationFailed("spec.engine.calibration.uri: int8 needs calibration images")
        source = fetch(cal.uri, work / "calibration", field="spec.engine.calibration.uri",
                       policy=request.fetch_policy, expected_sha256=cal.sha256, folder_ok=True)
        crops = load_images(source, cal.samples, shape, field="spec.engine.calibration.uri",
                            error=CalibrationFailed)
        progress.log(f"calibrating on {len(crops)} crops")
        return crops

    graph = apply_precision(fused, spec.engine.precision, work=work / "precision",
                            calibration=calibration, fixed_batch=checked.fixed_batch)
    graph_path = work / "graph.onnx"
    onnx.save(graph, str(graph_path))

    progress.step("engine", request.backend)
    engine_path, versions = _build_backend(request, store, graph_path, work, progress)

    with store.stage() as staging:
        staged_engine = staging.copy_in(engine_path, engine_path.name)
        meta = _meta(request, staged_engine, versions)
        meta.update(heads=heads_document(activations), warnings=list(warnings))
        staging.write_json("meta.json", meta)
        with _open(staging) as runner:
            progress.step("validate", f"{len(crops)} {source} crops")
            actual = run_in_batches(runner.infer, crops, spec.engine.batch.min,
                                    spec.engine.batch.max)
            report = compare(expected, actual, spec.validation, source, warnings)
            progress.log(_describe(report))
            raise_if_failed(report, spec.engine.precision)
            progress.step("measure", request.backend)
            performance = measure(runner, batch_sizes(spec.engine.batch),
                                  seconds_per_size=request.measure_seconds)
        progress.step("store", str(store.engine_dir(request.fingerprint)))
        meta.update(_performance(performance), buildSeconds=round(time.monotonic() - started, 2))
        staging.write_json("meta.json", meta)
        staging.write_json("validation.json", report.document())
        store.commit(staging, request.fingerprint)
    return BuildResult("Built", meta, report.summary())


def _build_backend(request: BuildRequest, store: EngineStore, graph_path: Path, work: Path,
                   progress: Progress) -> tuple[Path, dict[str, Any]]:
    spec = request.spec
    if request.backend in ONNXRUNTIME_BACKENDS:
        engine_path = work / "engine.onnx"
        return engine_path, build_onnxruntime_engine(graph_path, engine_path, request.backend)
    if request.backend != "tensorrt":
        raise ValueError(f"unknown backend {request.backend!r}; known: {', '.join(BACKENDS)}")
    from classroom_inference.builder.tensorrt_engine import build_plan

    cache = store.timing_cache(request.gpu_class) if spec.engine.timing_cache else None
    if cache is not None:
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreFailed(f"cannot create {cache.parent}: {exc}") from None
    engine_path = work / "engine.plan"
    batch = spec.engine.batch
    versions = build_plan(
        graph_path, engine_path, input_name=ENGINE_INPUT,
        input_hwc=(spec.model.input.height, spec.model.input.width, spec.model.input.channels),
        batch=(batch.min, batch.opt, batch.max), workspace_mib=spec.engine.workspace_mib,
        timing_cache=cache, hardware_compatibility=spec.engine.hardware_compatibility,
        version_compatible=spec.engine.version_compatible, log=progress.log)
    return engine_path, dict(versions)


def _validation_crops(request: BuildRequest, work: Path,
                      shape: tuple[int, int, int]) -> tuple[np.ndarray, str]:
    samples = request.spec.validation.samples
    if samples.uri is None:
        return synthetic_faces(samples.samples, shape, seed=VALIDATION_SEED), "synthetic"
    source = fetch(samples.uri, work / "validation", field="spec.validation.uri",
                   policy=request.fetch_policy, expected_sha256=samples.sha256,
                   folder_ok=True)
    return load_images(source, samples.samples, shape, field="spec.validation.uri",
                       error=SamplesInvalid), "validation-set"


class _open:
    """The staged engine's runner, loaded, with runner errors turned into build errors."""

    def __init__(self, staging: Staging) -> None:
        self.staging = staging
        self.runner: Runner | None = None

    def __enter__(self) -> Runner:
        try:
            self.runner = open_runner(self.staging.path)
            self.runner.load()
        except RunnerUnavailable as exc:
            raise BackendUnavailable(f"cannot run the engine on this node: {exc}") from exc
        except RunnerError as exc:
            raise EngineBuildFailed(f"the built engine does not load: {exc}") from exc
        return self.runner

    def __exit__(self, *exc: object) -> None:
        if self.runner is not None:
            self.runner.close()


def _reference_outputs(request: BuildRequest, reference: Any, crops: np.ndarray,
                       fixed_batch: int | None) -> dict[str, np.ndarray]:
    """The user's model, fp32, on the validation crops: what the heads are and what the engine
    must agree with."""
    batch = request.spec.engine.batch
    low, high = (fixed_batch, fixed_batch) if fixed_batch else (1, batch.max)
    return run_in_batches(reference_infer(reference, request.spec.model), crops, low, high)


def _describe(report: ValidationReport) -> str:
    figures = {k: v for k, v in report.summary().items() if v is not None}
    return "validation " + " ".join(f"{k}={v}" for k, v in figures.items())


def _meta(request: BuildRequest, engine: Path, versions: dict[str, Any]) -> dict[str, Any]:
    """meta.json (docs/contracts.md, "Engine store"), before throughput is known."""
    import onnxruntime

    spec, model_input = request.spec, request.spec.model.input
    heads = [h for h in HEADS if h in spec.model.outputs]
    return {
        "schemaVersion": 1,
        "fingerprint": request.fingerprint,
        "backend": request.backend,
        "engineFile": engine.name,
        "engineSha256": sha256_file(engine),
        "sizeBytes": engine.stat().st_size,
        "precision": spec.engine.precision,
        "input": {"name": ENGINE_INPUT, "dtype": "uint8", "layout": "NHWC",
                  "height": model_input.height, "width": model_input.width,
                  "channels": model_input.channels},
        "batch": {"min": spec.engine.batch.min, "opt": spec.engine.batch.opt,
                  "max": spec.engine.batch.max},
        "outputs": {h: h for h in heads},
        "emotionLabels": list(spec.model.emotion_labels) if "emotion" in heads else [],
        "model": {"uri": spec.model.uri, "sha256": spec.model.sha256},
        "versions": {"classroomInference": __version__, "onnx": onnx.__version__,
                     "onnxruntime": versions.get("onnxruntime", onnxruntime.__version__),
                     "tensorrt": versions.get("tensorrt")},
        "gpu": {"gpuClass": request.gpu_class, "product": spec.gpu.product,
                "computeCapability": spec.gpu.compute_capability,
                "driverMajor": spec.gpu.driver_major},
        "versionCompatible": request.backend == "tensorrt" and spec.engine.version_compatible,
        "builtAt": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "buildSeconds": None,
        "throughput": {},
        "throughputSpread": {},
        "latencyMs": {},
    }


def _performance(performance: Performance) -> dict[str, Any]:
    return {"throughput": performance.throughput, "throughputSpread": performance.spread,
            "latencyMs": performance.latency_ms}


def opt_throughput(meta: dict[str, Any], opt: int) -> dict[str, Any] | None:
    """The summary's throughput: crops/s at the profile's opt batch (else the largest measured),
    and the spread of the measuring rounds behind it ((max - min) / median; null if unknown)."""
    measured: dict[str, float] = meta.get("throughput") or {}
    if not measured:
        return None
    key = str(opt) if str(opt) in measured else max(measured, key=int)
    spread = (meta.get("throughputSpread") or {}).get(key)
    return {"batch": int(key), "cropsPerSecond": measured[key], "spread": spread}


__all__ = ["BACKENDS", "BuildRequest", "BuildResult", "build_engine", "opt_throughput"]

"""The build spec: CLASSROOM_BUILD_SPEC (or --spec FILE) parsed into frozen dataclasses.

The operator copies the ClassroomModel's `model`, `engine` and `validation` (camelCase, as in the
CRD) and adds `gpu` (docs/contracts.md, "The build Job"). The CRD already refuses most bad input;
this parser checks again because the builder also runs by hand, and names the field and the fix.
Keys the builder does not use (serving, analysis...) are ignored.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from classroom_inference.builder.errors import InvalidSpec

HEADS = ("attention", "emotion", "engagement")
PRECISIONS = ("fp32", "fp16", "int8")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# FER-2013's class order, which most emotion models trained on it (and its relabellings) keep.
DEFAULT_EMOTIONS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MAX_BATCH = 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SCHEMES = ("https://", "http://", "s3://", "file://")


@dataclass(frozen=True)
class InputSpec:
    name: str
    channels: int
    height: int
    width: int
    layout: str  # NCHW | NHWC: the model's own layout; the engine input is always NHWC uint8
    color_order: str  # RGB | BGR: what the model expects; crops arrive RGB
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class ModelSpec:
    uri: str
    sha256: str
    input: InputSpec
    outputs: dict[str, str]  # canonical head -> the model's output name
    emotion_labels: tuple[str, ...]


@dataclass(frozen=True)
class SampleSetSpec:
    uri: str | None
    sha256: str | None
    samples: int


@dataclass(frozen=True)
class BatchSpec:
    min: int
    opt: int
    max: int


@dataclass(frozen=True)
class EngineSpec:
    precision: str
    calibration: SampleSetSpec
    batch: BatchSpec
    workspace_mib: int
    timing_cache: bool
    hardware_compatibility: str
    version_compatible: bool


@dataclass(frozen=True)
class ValidationSpec:
    samples: SampleSetSpec
    max_attention_error: float
    min_emotion_agreement: float
    max_engagement_error: float


@dataclass(frozen=True)
class GpuSpec:
    product: str | None
    compute_capability: str | None
    driver_major: int | None


@dataclass(frozen=True)
class BuildSpec:
    model: ModelSpec
    engine: EngineSpec
    validation: ValidationSpec
    gpu: GpuSpec


class _Fields:
    """Typed reads from one JSON object, with errors that name the full path of the field."""

    def __init__(self, doc: Any, path: str) -> None:
        if doc is None:
            doc = {}
        if not isinstance(doc, dict):
            raise InvalidSpec(f"{path}: must be an object, got {type(doc).__name__}")
        self.doc: dict[str, Any] = doc
        self.path = path

    def where(self, key: str) -> str:
        return f"{self.path}.{key}"

    def child(self, key: str) -> _Fields:
        return _Fields(self.doc.get(key), self.where(key))

    def text(self, key: str, default: str | None = None) -> str | None:
        value = self.doc.get(key, default)
        if value is None or isinstance(value, str):
            return value
        raise InvalidSpec(f"{self.where(key)}: must be a string, got {value!r}")

    def required_str(self, key: str, fix: str) -> str:
        value = self.text(key)
        if not value:
            raise InvalidSpec(f"{self.where(key)}: required; {fix}")
        return value

    def integer(self, key: str, default: int, low: int, high: int) -> int:
        value = self.doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise InvalidSpec(
                f"{self.where(key)}: must be an integer from {low} to {high}, got {value!r}"
            )
        return value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.doc.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float) or not (
            low <= value <= high
        ):
            raise InvalidSpec(f"{self.where(key)}: must be a number from {low} to {high}, "
                              f"got {value!r}")
        return float(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self.doc.get(key, default)
        if not isinstance(value, bool):
            raise InvalidSpec(f"{self.where(key)}: must be true or false, got {value!r}")
        return value

    def choice(self, key: str, default: str, choices: tuple[str, ...]) -> str:
        value = self.doc.get(key, default)
        if value not in choices:
            raise InvalidSpec(
                f"{self.where(key)}: must be one of {', '.join(choices)}, got {value!r}"
            )
        return str(value)


def _uri(fields: _Fields, key: str, *, required: bool) -> str | None:
    value = (fields.required_str(key, "give the URL of the file (https, s3 or file)")
             if required else fields.text(key))
    if value is not None and value.startswith("pvc://"):
        raise InvalidSpec(
            f"{fields.where(key)}: pvc:// is not supported: build Jobs run in the operator's "
            "namespace and cannot mount your claim; serve the file from an in-cluster http(s) "
            "server or object store (s3://)")
    if value is not None and not value.startswith(_SCHEMES):
        raise InvalidSpec(
            f"{fields.where(key)}: {value!r} has no supported scheme; use one of "
            f"{', '.join(s.rstrip('/') for s in _SCHEMES)} (e.g. https://models.example.org/face.onnx)"
        )
    return value


def _sha256(fields: _Fields, key: str, *, required: bool) -> str | None:
    value = fields.text(key)
    if value is None and not required:
        return None
    if value is None or not _SHA256.match(value):
        raise InvalidSpec(
            f"{fields.where(key)}: must be 64 lowercase hex characters, got {value!r}; "
            "set it to the output of `sha256sum <file>`"
        )
    return value


def _per_channel(fields: _Fields, key: str, default: tuple[float, ...],
                 channels: int) -> tuple[float, ...]:
    value = fields.doc.get(key)
    if value is None and channels == 1:
        # No statistics are common to grayscale models ([0, 1], [-1, 1] and per-dataset values
        # are all usual), and a wrong guess still passes validation against the same guess.
        raise InvalidSpec(
            f"{fields.where(key)}: required for a 1-channel model; give the normalisation the "
            "model was trained with, e.g. inputs in [-1, 1] are mean [0.5], std [0.5]; "
            "[0, 1] is mean [0], std [1]")
    if value is None:
        return default
    if (not isinstance(value, list) or len(value) not in (1, channels)
            or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)):
        raise InvalidSpec(
            f"{fields.where(key)}: must be a list of 1 or {channels} numbers (one per channel), "
            f"got {value!r}"
        )
    values = tuple(float(v) for v in value) * (channels if len(value) == 1 else 1)
    if key == "std" and any(v <= 0 for v in values):
        raise InvalidSpec(f"{fields.where(key)}: every value must be above 0, got {value!r}")
    return values


def _input(fields: _Fields) -> InputSpec:
    shape = fields.doc.get("shape", [3, 224, 224])
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape)):
        raise InvalidSpec(
            f"{fields.where('shape')}: must be [channels, height, width] of positive integers, "
            f"got {shape!r}"
        )
    channels, height, width = shape
    if channels not in (1, 3):
        raise InvalidSpec(f"{fields.where('shape')}: channels must be 1 (grayscale) or 3, "
                          f"got {channels}")
    if height > 4096 or width > 4096:
        raise InvalidSpec(f"{fields.where('shape')}: height and width must be at most 4096")
    return InputSpec(
        name=fields.text("name", "input") or "input",
        channels=channels,
        height=height,
        width=width,
        layout=fields.choice("layout", "NCHW", ("NCHW", "NHWC")),
        color_order=fields.choice("colorOrder", "RGB", ("RGB", "BGR")),
        mean=_per_channel(fields, "mean", IMAGENET_MEAN, channels),
        std=_per_channel(fields, "std", IMAGENET_STD, channels),
    )


def _outputs(fields: _Fields) -> dict[str, str]:
    unknown = sorted(set(fields.doc) - set(HEADS))
    if unknown:
        raise InvalidSpec(f"{fields.path}: unknown heads {unknown}; the heads are "
                          f"{', '.join(HEADS)}")
    outputs = {h: fields.text(h) for h in HEADS if fields.doc.get(h) is not None}
    if not outputs:
        raise InvalidSpec(
            f"{fields.path}: map at least one head to the model's output name, "
            "e.g. {\"emotion\": \"logits\"}"
        )
    mapped = {h: name for h, name in outputs.items() if name}
    by_name: dict[str, list[str]] = {}
    for head, name in mapped.items():
        by_name.setdefault(name, []).append(head)
    shared = {name: heads for name, heads in by_name.items() if len(heads) > 1}
    if shared:
        name, heads = next(iter(shared.items()))
        raise InvalidSpec(
            f"{fields.path}: {' and '.join(heads)} both map to the model's output {name!r}; "
            "each head needs its own output: map each head to the output that computes it, "
            "and leave out the heads the model does not have")
    return mapped


def _model(fields: _Fields) -> ModelSpec:
    inp = _input(fields.child("input"))
    labels = fields.doc.get("emotionLabels", list(DEFAULT_EMOTIONS))
    if (not isinstance(labels, list) or not labels
            or not all(isinstance(x, str) and x for x in labels)):
        raise InvalidSpec(f"{fields.where('emotionLabels')}: must be a non-empty list of names, "
                          f"got {labels!r}")
    return ModelSpec(
        uri=_uri(fields, "uri", required=True) or "",
        sha256=_sha256(fields, "sha256", required=True) or "",
        input=inp,
        outputs=_outputs(fields.child("outputs")),
        emotion_labels=tuple(labels),
    )


def _sample_set(fields: _Fields, default_samples: int) -> SampleSetSpec:
    return SampleSetSpec(
        uri=_uri(fields, "uri", required=False),
        sha256=_sha256(fields, "sha256", required=False),
        samples=fields.integer("samples", default_samples, 1, 100_000),
    )


def _engine(fields: _Fields) -> EngineSpec:
    batch_fields = fields.child("batch")
    batch = BatchSpec(
        min=batch_fields.integer("min", 1, 1, MAX_BATCH),
        opt=batch_fields.integer("opt", 64, 1, MAX_BATCH),
        max=batch_fields.integer("max", 256, 1, MAX_BATCH),
    )
    if not batch.min <= batch.opt <= batch.max:
        raise InvalidSpec(f"{batch_fields.path}: needs min <= opt <= max, got "
                          f"{batch.min}/{batch.opt}/{batch.max}")
    precision = fields.choice("precision", "fp16", PRECISIONS)
    calibration = _sample_set(fields.child("calibration"), 256)
    if precision == "int8" and calibration.uri is None:
        raise InvalidSpec(
            f"{fields.where('calibration.uri')}: int8 needs calibration images; give a folder "
            "or .tar/.tar.gz/.zip of a few hundred face crops, or use precision fp16"
        )
    return EngineSpec(
        precision=precision,
        calibration=calibration,
        batch=batch,
        workspace_mib=fields.integer("workspaceMiB", 2048, 16, 1 << 20),
        timing_cache=fields.flag("timingCache", True),
        hardware_compatibility=fields.choice("hardwareCompatibility", "none",
                                             ("none", "ampere+")),
        version_compatible=fields.flag("versionCompatible", False),
    )


def _validation(fields: _Fields) -> ValidationSpec:
    return ValidationSpec(
        samples=_sample_set(fields, 256),
        max_attention_error=fields.number("maxAttentionError", 0.05, 0.0, 1.0),
        min_emotion_agreement=fields.number("minEmotionAgreement", 0.9, 0.0, 1.0),
        max_engagement_error=fields.number("maxEngagementError", 0.05, 0.0, 1.0),
    )


def _gpu(fields: _Fields) -> GpuSpec:
    driver = fields.doc.get("driverMajor")
    if driver is not None and (isinstance(driver, bool) or not isinstance(driver, int)):
        raise InvalidSpec(f"{fields.where('driverMajor')}: must be an integer, got {driver!r}")
    return GpuSpec(
        product=fields.text("product"),
        compute_capability=fields.text("computeCapability"),
        driver_major=driver,
    )


def parse_spec(doc: Any, source: str = "spec") -> BuildSpec:
    fields = _Fields(doc, source)
    return BuildSpec(
        model=_model(fields.child("model")),
        engine=_engine(fields.child("engine")),
        validation=_validation(fields.child("validation")),
        gpu=_gpu(fields.child("gpu")),
    )


def load_spec(text: str, source: str) -> BuildSpec:
    """Parse the JSON text of a spec; `source` names where it came from in errors."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidSpec(f"{source}: not valid JSON ({exc}); give the build spec as a JSON "
                          "object with model, engine and validation") from exc
    return parse_spec(doc)

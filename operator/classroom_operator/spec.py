"""A ClassroomModel's spec as frozen dataclasses.

The CRD (crds/) refuses most bad input at admission; this parser repeats the checks that decide
what gets built, applies the CRD's defaults when they are missing (an object stored before a
default existed), and turns anything still wrong into a `SpecError` naming the field and the fix,
never a crash deeper in the operator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

SHA256 = re.compile(r"^[0-9a-f]{64}$")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
DATA_SCHEMES = ("https://", "http://", "s3://", "pvc://", "file://")
STREAM_SCHEMES = ("rtsp://", "rtsps://", "https://", "http://", "file://")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EMOTION_LABELS = ("neutral", "happy", "sad", "surprise", "fear", "disgust", "anger")
MAX_BATCH = 1024


class SpecError(ValueError):
    """A field of the spec is unusable; `field` is its path, the message says how to fix it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"spec.{field}: {message}")
        self.field = f"spec.{field}"


@dataclass(frozen=True)
class ModelInput:
    name: str
    channels: int
    height: int
    width: int
    layout: str
    color_order: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class ModelOutputs:
    attention: str | None
    emotion: str | None
    engagement: str | None


@dataclass(frozen=True)
class Model:
    uri: str
    sha256: str
    input: ModelInput
    outputs: ModelOutputs
    emotion_labels: tuple[str, ...]


@dataclass(frozen=True)
class Calibration:
    uri: str
    sha256: str
    samples: int


@dataclass(frozen=True)
class Batch:
    min: int
    opt: int
    max: int


@dataclass(frozen=True)
class Engine:
    precision: str
    calibration: Calibration | None
    batch: Batch
    workspace_mib: int
    timing_cache: bool
    hardware_compatibility: str
    version_compatible: bool
    builder_image: str | None


@dataclass(frozen=True)
class Validation:
    uri: str | None
    sha256: str | None
    samples: int
    max_attention_error: float
    min_emotion_agreement: float
    max_engagement_error: float
    max_latency_regression_percent: float


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str
    toleration_seconds: int | None


@dataclass(frozen=True)
class Placement:
    """Where the model's engines are built and served: nodes matching all of node_selector, whose
    taints the tolerations cover. Hashable, so models sharing a placement share its node set."""

    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]


@dataclass(frozen=True)
class Serving:
    target_fps: int
    max_latency_ms: int
    replicas_min: int
    replicas_max: int
    placement: Placement
    resources: Mapping[str, Any]


@dataclass(frozen=True)
class Stream:
    url: str
    layout: str


@dataclass(frozen=True)
class Classroom:
    name: str
    streams: tuple[Stream, ...]


@dataclass(frozen=True)
class ModelSpec:
    model: Model
    engine: Engine
    validation: Validation
    serving: Serving
    classrooms: tuple[Classroom, ...]
    classroom_selector: Mapping[str, Any] | None


def _section(raw: Mapping[str, Any], key: str, path: str) -> Mapping[str, Any]:
    value = raw.get(key)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise SpecError(f"{path}{key}", "must be an object")
    return value


def _string(raw: Mapping[str, Any], key: str, path: str, default: str | None = None) -> str:
    value = raw.get(key, default)
    if not isinstance(value, str) or not value:
        raise SpecError(f"{path}{key}", "is required and must be a non-empty string")
    return value


def _optional_string(raw: Mapping[str, Any], key: str, path: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise SpecError(f"{path}{key}", "must be a non-empty string when given")
    return value


def _integer(raw: Mapping[str, Any], key: str, path: str, default: int,
             low: int, high: int) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise SpecError(f"{path}{key}", f"must be a whole number from {low} to {high}")
    if not low <= value <= high:
        raise SpecError(f"{path}{key}", f"is {value}; use a value from {low} to {high}")
    return value


def _number(raw: Mapping[str, Any], key: str, path: str, default: float,
            low: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"{path}{key}", f"must be a number from {low:g} to {high:g}")
    if not low <= value <= high:
        raise SpecError(f"{path}{key}", f"is {value:g}; use a value from {low:g} to {high:g}")
    return float(value)


def _boolean(raw: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise SpecError(f"{path}{key}", "must be true or false")
    return value


def _choice(raw: Mapping[str, Any], key: str, path: str, default: str,
            choices: tuple[str, ...]) -> str:
    value = raw.get(key, default)
    if value not in choices:
        raise SpecError(f"{path}{key}", f"is {value!r}; use one of {', '.join(choices)}")
    return str(value)


def _sha256(raw: Mapping[str, Any], key: str, path: str) -> str:
    value = _string(raw, key, path)
    if not SHA256.match(value):
        raise SpecError(f"{path}{key}", "must be 64 lowercase hex characters (`sha256sum` output)")
    return value


def _url(raw: Mapping[str, Any], key: str, path: str, schemes: tuple[str, ...]) -> str:
    value = _string(raw, key, path)
    if not value.startswith(schemes) or value in schemes:
        names = ", ".join(scheme.rstrip(":/") for scheme in schemes)
        raise SpecError(f"{path}{key}", f"{value!r} is not a URL with scheme {names}")
    return value


def _floats(raw: Mapping[str, Any], key: str, path: str, default: tuple[float, ...],
            channels: int) -> tuple[float, ...]:
    value = raw.get(key, list(default))
    if not isinstance(value, list) or not all(
        isinstance(item, int | float) and not isinstance(item, bool) for item in value
    ):
        raise SpecError(f"{path}{key}", "must be a list of numbers, one per channel")
    if len(value) != channels:
        raise SpecError(
            f"{path}{key}",
            f"has {len(value)} values but the input has {channels} channel(s); give one per "
            f"channel, e.g. [0.5] for grayscale",
        )
    return tuple(float(item) for item in value)


def parse_model(raw: Mapping[str, Any]) -> Model:
    path = "model."
    inp = _section(raw, "input", path)
    shape = inp.get("shape", [3, 224, 224])
    if (not isinstance(shape, list) or len(shape) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) for d in shape)):
        raise SpecError("model.input.shape",
                        "must be [channels, height, width], e.g. [3, 224, 224]")
    channels, height, width = shape
    if channels not in (1, 3):
        raise SpecError("model.input.shape", f"has {channels} channels; use 1 (grayscale) or 3")
    if not (16 <= height <= 4096 and 16 <= width <= 4096):
        raise SpecError("model.input.shape", "height and width must be from 16 to 4096 pixels")
    std = _floats(inp, "std", "model.input.", IMAGENET_STD if channels == 3 else (0.5,), channels)
    if any(value <= 0 for value in std):
        raise SpecError("model.input.std", "every value must be above 0")
    outputs_raw = _section(raw, "outputs", path)
    outputs = ModelOutputs(
        attention=_optional_string(outputs_raw, "attention", "model.outputs."),
        emotion=_optional_string(outputs_raw, "emotion", "model.outputs."),
        engagement=_optional_string(outputs_raw, "engagement", "model.outputs."),
    )
    if outputs == ModelOutputs(None, None, None):
        raise SpecError("model.outputs", "map at least one head, e.g. outputs: {emotion: logits}")
    labels = raw.get("emotionLabels", list(EMOTION_LABELS))
    if (not isinstance(labels, list) or not labels
            or not all(isinstance(label, str) and label for label in labels)):
        raise SpecError("model.emotionLabels", "must be a non-empty list of class names")
    return Model(
        uri=_url(raw, "uri", path, DATA_SCHEMES),
        sha256=_sha256(raw, "sha256", path),
        input=ModelInput(
            name=_string(inp, "name", "model.input.", "input"),
            channels=channels,
            height=height,
            width=width,
            layout=_choice(inp, "layout", "model.input.", "NCHW", ("NCHW", "NHWC")),
            color_order=_choice(inp, "colorOrder", "model.input.", "RGB", ("RGB", "BGR")),
            mean=_floats(inp, "mean", "model.input.",
                         IMAGENET_MEAN if channels == 3 else (0.5,), channels),
            std=std,
        ),
        outputs=outputs,
        emotion_labels=tuple(labels),
    )


def parse_engine(raw: Mapping[str, Any]) -> Engine:
    path = "engine."
    precision = _choice(raw, "precision", path, "fp16", ("fp32", "fp16", "int8"))
    calibration: Calibration | None = None
    calibration_raw = raw.get("calibration")
    if precision == "int8":
        if not isinstance(calibration_raw, Mapping):
            raise SpecError("engine.calibration", "is required for precision int8: give uri and "
                            "sha256 of representative face crops, or use precision fp16")
        calibration = Calibration(
            uri=_url(calibration_raw, "uri", "engine.calibration.", DATA_SCHEMES),
            sha256=_sha256(calibration_raw, "sha256", "engine.calibration."),
            samples=_integer(calibration_raw, "samples", "engine.calibration.", 256, 16, 100000),
        )
    batch_raw = _section(raw, "batch", path)
    batch = Batch(
        min=_integer(batch_raw, "min", "engine.batch.", 1, 1, MAX_BATCH),
        opt=_integer(batch_raw, "opt", "engine.batch.", 64, 1, MAX_BATCH),
        max=_integer(batch_raw, "max", "engine.batch.", 256, 1, MAX_BATCH),
    )
    if not batch.min <= batch.opt <= batch.max:
        raise SpecError("engine.batch", f"needs min <= opt <= max, got {batch.min}, {batch.opt}, "
                        f"{batch.max}; e.g. {{min: 1, opt: 64, max: 256}}")
    return Engine(
        precision=precision,
        calibration=calibration,
        batch=batch,
        workspace_mib=_integer(raw, "workspaceMiB", path, 2048, 64, 262144),
        timing_cache=_boolean(raw, "timingCache", path, True),
        hardware_compatibility=_choice(raw, "hardwareCompatibility", path, "none",
                                       ("none", "ampere+")),
        version_compatible=_boolean(raw, "versionCompatible", path, False),
        builder_image=_optional_string(raw, "builderImage", path),
    )


def parse_validation(raw: Mapping[str, Any]) -> Validation:
    path = "validation."
    uri = _url(raw, "uri", path, DATA_SCHEMES) if "uri" in raw else None
    sha256 = _sha256(raw, "sha256", path) if "sha256" in raw else None
    if (uri is None) != (sha256 is None):
        raise SpecError("validation.sha256", "uri and sha256 go together: give both or neither")
    return Validation(
        uri=uri,
        sha256=sha256,
        samples=_integer(raw, "samples", path, 256, 1, 100000),
        max_attention_error=_number(raw, "maxAttentionError", path, 0.05, 0, 1),
        min_emotion_agreement=_number(raw, "minEmotionAgreement", path, 0.9, 0, 1),
        max_engagement_error=_number(raw, "maxEngagementError", path, 0.05, 0, 1),
        max_latency_regression_percent=_number(raw, "maxLatencyRegressionPercent", path,
                                               20, 0, 1000),
    )


def parse_placement(serving: Mapping[str, Any]) -> Placement:
    selector = _section(serving, "nodeSelector", "serving.")
    if not all(isinstance(value, str) for value in selector.values()):
        raise SpecError("serving.nodeSelector", "values must be strings (quote numbers)")
    tolerations_raw = serving.get("tolerations") or []
    if not isinstance(tolerations_raw, list):
        raise SpecError("serving.tolerations", "must be a list of tolerations")
    tolerations = []
    for index, item in enumerate(tolerations_raw):
        path = f"serving.tolerations[{index}]."
        if not isinstance(item, Mapping):
            raise SpecError(path.rstrip("."), "must be an object like a Pod's toleration")
        operator = _choice(item, "operator", path, "Equal", ("Equal", "Exists"))
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            raise SpecError(f"{path}tolerationSeconds", "must be a whole number of seconds")
        tolerations.append(Toleration(
            key=str(item.get("key") or ""),
            operator=operator,
            value=str(item.get("value") or ""),
            effect=_choice(item, "effect", path, "",
                           ("", "NoSchedule", "PreferNoSchedule", "NoExecute")),
            toleration_seconds=seconds,
        ))
    return Placement(node_selector=tuple(sorted(selector.items())), tolerations=tuple(tolerations))


def parse_serving(raw: Mapping[str, Any]) -> Serving:
    path = "serving."
    replicas = _section(raw, "replicas", path)
    low = _integer(replicas, "min", "serving.replicas.", 1, 1, 1024)
    high = _integer(replicas, "max", "serving.replicas.", 16, 1, 1024)
    if low > high:
        raise SpecError("serving.replicas", f"needs min <= max, got {low} > {high}")
    return Serving(
        target_fps=_integer(raw, "targetFps", path, 30, 1, 120),
        max_latency_ms=_integer(raw, "maxLatencyMs", path, 100, 1, 60000),
        replicas_min=low,
        replicas_max=high,
        placement=parse_placement(raw),
        resources=_section(raw, "resources", path),
    )


def parse_classrooms(raw: Any) -> tuple[Classroom, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise SpecError("classrooms", "must be a list of {name, streams}")
    rooms: list[Classroom] = []
    seen: set[str] = set()
    for index, item in enumerate(raw):
        path = f"classrooms[{index}]."
        if not isinstance(item, Mapping):
            raise SpecError(path.rstrip("."), "must be an object with name and streams")
        name = _string(item, "name", path)
        if not DNS_LABEL.match(name) or len(name) > 63:
            raise SpecError(f"{path}name", f"{name!r} is not a DNS label, e.g. room-101")
        if name in seen:
            raise SpecError(f"{path}name", f"{name!r} appears twice; classroom names are unique")
        seen.add(name)
        streams_raw = item.get("streams")
        if not isinstance(streams_raw, list) or not streams_raw:
            raise SpecError(f"{path}streams", "list at least one stream, e.g. [{url: rtsp://...}]")
        streams = []
        for number, stream in enumerate(streams_raw):
            stream_path = f"{path}streams[{number}]."
            if not isinstance(stream, Mapping):
                raise SpecError(stream_path.rstrip("."), "must be an object with url")
            streams.append(Stream(
                url=_url(stream, "url", stream_path, STREAM_SCHEMES),
                layout=_choice(stream, "layout", stream_path, "per-student",
                               ("per-student", "room")),
            ))
        rooms.append(Classroom(name=name, streams=tuple(streams)))
    return tuple(rooms)


def parse_spec(raw: Mapping[str, Any]) -> ModelSpec:
    """Parse a ClassroomModel's spec; raises `SpecError` naming the first unusable field."""
    if not isinstance(raw.get("model"), Mapping):
        raise SpecError("model", "is required: give uri, sha256 and outputs of the ONNX model")
    selector = raw.get("classroomSelector")
    if raw.get("classrooms") and selector is not None:
        raise SpecError("classroomSelector", "use either classrooms or classroomSelector, not both")
    if selector is not None and not isinstance(selector, Mapping):
        raise SpecError("classroomSelector", "must be a label selector like {matchLabels: {...}}")
    return ModelSpec(
        model=parse_model(raw["model"]),
        engine=parse_engine(_section(raw, "engine", "")),
        validation=parse_validation(_section(raw, "validation", "")),
        serving=parse_serving(_section(raw, "serving", "")),
        classrooms=parse_classrooms(raw.get("classrooms")),
        classroom_selector=selector,
    )

"""The sections of a ClassroomModel's spec (model, engine, validation, serving, classrooms).

The CRD (crds/) refuses most bad input at admission; these parsers repeat the checks that decide
what gets built, apply the CRD's defaults when they are missing (an object stored before a
default existed), and turn anything still wrong into a `SpecError` naming the field and the fix,
never a crash deeper in the operator.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from classroom_operator.spec.fields import (
    DATA_SCHEMES,
    SpecError,
    read_boolean,
    read_choice,
    read_floats,
    read_integer,
    read_number,
    read_optional_string,
    read_secret_ref,
    read_section,
    read_sha256,
    read_stream_url,
    read_string,
    read_url,
)
from classroom_operator.spec.model import (
    Batch,
    Calibration,
    Classroom,
    Engine,
    Model,
    ModelInput,
    ModelOutputs,
    ModelSpec,
    Placement,
    Serving,
    Stream,
    Toleration,
    Validation,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# FER-2013 order, the CRD's default: facial-expression models trained on FER give it.
EMOTION_LABELS = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")
MAX_BATCH = 1024
SEATS = (1, 500)  # the CRD's range for spec.classrooms[].seats and a Classroom's spec.seats


def parse_model_section(raw: Mapping[str, Any]) -> Model:
    path = "model."
    inp = read_section(raw, "input", path)
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
    std = read_floats(inp, "std", "model.input.", IMAGENET_STD if channels == 3 else (0.5,),
                      channels)
    if any(value <= 0 for value in std):
        raise SpecError("model.input.std", "every value must be above 0")
    outputs_raw = read_section(raw, "outputs", path)
    outputs = ModelOutputs(
        attention=read_optional_string(outputs_raw, "attention", "model.outputs."),
        emotion=read_optional_string(outputs_raw, "emotion", "model.outputs."),
        engagement=read_optional_string(outputs_raw, "engagement", "model.outputs."),
    )
    if outputs == ModelOutputs(None, None, None):
        raise SpecError("model.outputs", "map at least one head, e.g. outputs: {emotion: logits}")
    labels = raw.get("emotionLabels", list(EMOTION_LABELS))
    if (not isinstance(labels, list) or not labels
            or not all(isinstance(label, str) and label for label in labels)):
        raise SpecError("model.emotionLabels", "must be a non-empty list of class names")
    return Model(
        uri=read_url(raw, "uri", path, DATA_SCHEMES),
        sha256=read_sha256(raw, "sha256", path),
        input=ModelInput(
            name=read_string(inp, "name", "model.input.", "input"),
            channels=channels,
            height=height,
            width=width,
            layout=read_choice(inp, "layout", "model.input.", "NCHW", ("NCHW", "NHWC")),
            color_order=read_choice(inp, "colorOrder", "model.input.", "RGB", ("RGB", "BGR")),
            mean=read_floats(inp, "mean", "model.input.",
                         IMAGENET_MEAN if channels == 3 else (0.5,), channels),
            std=std,
        ),
        outputs=outputs,
        emotion_labels=tuple(labels),
    )


def parse_engine(raw: Mapping[str, Any]) -> Engine:
    path = "engine."
    precision = read_choice(raw, "precision", path, "fp16", ("fp32", "fp16", "int8"))
    calibration: Calibration | None = None
    calibration_raw = raw.get("calibration")
    if precision == "int8":
        if not isinstance(calibration_raw, Mapping):
            raise SpecError("engine.calibration", "is required for precision int8: give uri and "
                            "sha256 of representative face crops, or use precision fp16")
        calibration = Calibration(
            uri=read_url(calibration_raw, "uri", "engine.calibration.", DATA_SCHEMES),
            sha256=read_sha256(calibration_raw, "sha256", "engine.calibration."),
            samples=read_integer(calibration_raw, "samples", "engine.calibration.", 256, 16,
                                 100000),
        )
    batch_raw = read_section(raw, "batch", path)
    batch = Batch(
        min=read_integer(batch_raw, "min", "engine.batch.", 1, 1, MAX_BATCH),
        opt=read_integer(batch_raw, "opt", "engine.batch.", 64, 1, MAX_BATCH),
        max=read_integer(batch_raw, "max", "engine.batch.", 256, 1, MAX_BATCH),
    )
    if not batch.min <= batch.opt <= batch.max:
        raise SpecError("engine.batch", f"needs min <= opt <= max, got {batch.min}, {batch.opt}, "
                        f"{batch.max}; e.g. {{min: 1, opt: 64, max: 256}}")
    return Engine(
        precision=precision,
        calibration=calibration,
        batch=batch,
        workspace_mib=read_integer(raw, "workspaceMiB", path, 2048, 64, 262144),
        timing_cache=read_boolean(raw, "timingCache", path, True),
        hardware_compatibility=read_choice(raw, "hardwareCompatibility", path, "none",
                                       ("none", "ampere+")),
        version_compatible=read_boolean(raw, "versionCompatible", path, False),
        builder_image=read_optional_string(raw, "builderImage", path),
    )


def parse_validation(raw: Mapping[str, Any]) -> Validation:
    path = "validation."
    uri = read_url(raw, "uri", path, DATA_SCHEMES) if "uri" in raw else None
    sha256 = read_sha256(raw, "sha256", path) if "sha256" in raw else None
    if (uri is None) != (sha256 is None):
        raise SpecError("validation.sha256", "uri and sha256 go together: give both or neither")
    return Validation(
        uri=uri,
        sha256=sha256,
        samples=read_integer(raw, "samples", path, 256, 1, 100000),
        max_attention_error=read_number(raw, "maxAttentionError", path, 0.05, 0, 1),
        min_emotion_agreement=read_number(raw, "minEmotionAgreement", path, 0.9, 0, 1),
        max_engagement_error=read_number(raw, "maxEngagementError", path, 0.05, 0, 1),
        max_latency_regression_percent=read_number(raw, "maxLatencyRegressionPercent", path,
                                               20, 0, 1000),
    )


def parse_placement(serving: Mapping[str, Any]) -> Placement:
    selector = read_section(serving, "nodeSelector", "serving.")
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
        operator = read_choice(item, "operator", path, "Equal", ("Equal", "Exists"))
        seconds = item.get("tolerationSeconds")
        if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, int)):
            raise SpecError(f"{path}tolerationSeconds", "must be a whole number of seconds")
        tolerations.append(Toleration(
            key=str(item.get("key") or ""),
            operator=operator,
            value=str(item.get("value") or ""),
            effect=read_choice(item, "effect", path, "",
                           ("", "NoSchedule", "PreferNoSchedule", "NoExecute")),
            toleration_seconds=seconds,
        ))
    return Placement(node_selector=tuple(sorted(selector.items())), tolerations=tuple(tolerations))


def parse_serving(raw: Mapping[str, Any]) -> Serving:
    path = "serving."
    replicas = read_section(raw, "replicas", path)
    low = read_integer(replicas, "min", "serving.replicas.", 1, 1, 1024)
    high = read_integer(replicas, "max", "serving.replicas.", 16, 1, 1024)
    if low > high:
        raise SpecError("serving.replicas", f"needs min <= max, got {low} > {high}")
    return Serving(
        target_fps=read_integer(raw, "targetFps", path, 30, 1, 120),
        max_latency_ms=read_integer(raw, "maxLatencyMs", path, 100, 1, 60000),
        replicas_min=low,
        replicas_max=high,
        placement=parse_placement(raw),
        resources=read_section(raw, "resources", path),
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
        name = read_string(item, "name", path)
        if not DNS_LABEL.match(name) or len(name) > 63:
            raise SpecError(f"{path}name", f"{name!r} is not a DNS label, e.g. room-101")
        if name in seen:
            raise SpecError(f"{path}name", f"{name!r} appears twice; classroom names are unique")
        seen.add(name)
        streams_raw = item.get("streams")
        if not isinstance(streams_raw, list) or not streams_raw:
            raise SpecError(f"{path}streams", "list at least one stream, e.g. [{url: rtsp://...}]")
        room_login = read_secret_ref(item, "credentialsSecretRef", path)
        streams = []
        for number, stream in enumerate(streams_raw):
            stream_path = f"{path}streams[{number}]."
            if not isinstance(stream, Mapping):
                raise SpecError(stream_path.rstrip("."), "must be an object with url")
            streams.append(Stream(
                url=read_stream_url(stream, "url", stream_path),
                layout=read_choice(stream, "layout", stream_path, "per-student",
                               ("per-student", "room")),
                credentials=read_secret_ref(stream, "credentialsSecretRef", stream_path)
                or room_login,
            ))
        seats = None if item.get("seats") is None else \
            read_integer(item, "seats", path, 0, SEATS[0], SEATS[1])
        rooms.append(Classroom(name=name, streams=tuple(streams), seats=seats))
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
        model=parse_model_section(raw["model"]),
        engine=parse_engine(read_section(raw, "engine", "")),
        validation=parse_validation(read_section(raw, "validation", "")),
        serving=parse_serving(read_section(raw, "serving", "")),
        classrooms=parse_classrooms(raw.get("classrooms")),
        classroom_selector=selector,
    )

"""Invalid ClassroomModels and Classrooms, each with what the refusal must say: the offending
field's path and the words of the fix. Every case is one change to a valid object, so a refusal
can only come from that change."""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]

SHA = "616bf958bab0bb695e58b174b553ad3e8c31762801479eb03e4a877611a82bf4"


def valid_model() -> Obj:
    return {
        "apiVersion": "classroom-operator.io/v1alpha1",
        "kind": "ClassroomModel",
        "metadata": {"name": "attention"},
        "spec": {
            "model": {
                "uri": "https://models.example.org/attention.onnx",
                "sha256": SHA,
                "outputs": {"attention": "attention", "emotion": "emotion"},
            },
            "classrooms": [
                {"name": "room-101", "streams": [{"url": "rtsp://cam.example/101"}]},
            ],
        },
    }


def valid_classroom() -> Obj:
    return {
        "apiVersion": "classroom-operator.io/v1alpha1",
        "kind": "Classroom",
        "metadata": {"name": "room-101", "labels": {"school": "lincoln"}},
        "spec": {"streams": [{"url": "rtsp://cam.example/101"}], "seats": 28},
    }


@dataclass(frozen=True)
class Invalid:
    """`change` turns a valid object into the invalid one; `says` must all appear in the
    refusal (the field's path first)."""

    change: Callable[[Obj], None]
    says: tuple[str, ...]
    kind: str = "ClassroomModel"

    def build(self) -> Obj:
        obj = valid_model() if self.kind == "ClassroomModel" else valid_classroom()
        obj = copy.deepcopy(obj)
        self.change(obj)
        return obj


def _set(path: str, value: Any) -> Callable[[Obj], None]:
    """Set a dotted path under the object (lists by index), creating objects on the way."""

    def change(obj: Obj) -> None:
        node: Any = obj
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[int(key)] if isinstance(node, list) else node.setdefault(key, {})
        last = keys[-1]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value

    return change


def _drop(path: str) -> Callable[[Obj], None]:
    def change(obj: Obj) -> None:
        node: Any = obj
        keys = path.split(".")
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    return change


def _rooms(count: int, streams: int) -> list[Obj]:
    return [{"name": f"room-{i}", "streams": [{"url": f"rtsp://cam.example/{i}/{s}"}
                                             for s in range(streams)]} for i in range(count)]


INVALID: dict[str, Invalid] = {
    "model uri with ftp scheme": Invalid(
        _set("spec.model.uri", "ftp://models.example.org/a.onnx"),
        ("spec.model.uri", "https, http, s3, pvc or file")),
    "model uri scheme only": Invalid(
        _set("spec.model.uri", "https://"), ("spec.model.uri",)),
    "model sha256 too short": Invalid(
        _set("spec.model.sha256", "abc123"), ("spec.model.sha256", "64 lowercase hex")),
    "model sha256 upper case": Invalid(
        _set("spec.model.sha256", SHA.upper()), ("spec.model.sha256", "64 lowercase hex")),
    "model without sha256": Invalid(
        _drop("spec.model.sha256"), ("spec.model.sha256", "Required")),
    "no output head": Invalid(
        _set("spec.model.outputs", {}), ("spec.model.outputs", "at least one head")),
    "input with two channels": Invalid(
        _set("spec.model.input", {"shape": [2, 224, 224]}),
        ("spec.model.input.shape", "channels must be 1 (grayscale) or 3")),
    "input smaller than 16 pixels": Invalid(
        _set("spec.model.input", {"shape": [3, 8, 224]}),
        ("spec.model.input.shape", "at least 16 pixels")),
    "grayscale with ImageNet mean": Invalid(
        _set("spec.model.input", {"shape": [1, 64, 64]}),
        ("spec.model.input.mean", "one value per")),
    "std of zero": Invalid(
        _set("spec.model.input", {"std": [0.2, 0, 0.2]}), ("spec.model.input.std",)),
    "layout not offered": Invalid(
        _set("spec.model.input", {"layout": "CHW"}),
        ("spec.model.input.layout", "NCHW", "NHWC")),
    "emotion labels repeated": Invalid(
        _set("spec.model.emotionLabels", ["happy", "sad", "happy"]),
        ("spec.model.emotionLabels", "Duplicate")),
    "precision not offered": Invalid(
        _set("spec.engine.precision", "bf16"), ("spec.engine.precision", "fp16")),
    "int8 without calibration": Invalid(
        _set("spec.engine.precision", "int8"),
        ("spec.engine.calibration", "required when spec.engine.precision is int8")),
    "calibration sha256 malformed": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": "pvc://models/calib.tar", "sha256": "not-a-checksum"}}),
        ("spec.engine.calibration.sha256", "64 lowercase hex")),
    "calibration uri with udp scheme": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": "udp://models/calib.tar", "sha256": SHA}}),
        ("spec.engine.calibration.uri", "https, http,")),
    "batch min above opt": Invalid(
        _set("spec.engine.batch", {"min": 64, "opt": 32, "max": 128}),
        ("spec.engine.batch", "min <= opt <= max")),
    "batch opt above max": Invalid(
        _set("spec.engine.batch", {"min": 1, "opt": 256, "max": 128}),
        ("spec.engine.batch", "min <= opt <= max")),
    "batch max above 1024": Invalid(
        _set("spec.engine.batch", {"min": 1, "opt": 64, "max": 4096}),
        ("spec.engine.batch.max", "1024")),
    "workspace too small": Invalid(
        _set("spec.engine.workspaceMiB", 16), ("spec.engine.workspaceMiB", "64")),
    "hardware compatibility not offered": Invalid(
        _set("spec.engine.hardwareCompatibility", "hopper+"),
        ("spec.engine.hardwareCompatibility", "ampere+")),
    "builder image on latest": Invalid(
        _set("spec.engine.builderImage", "registry.example.org/classroom-inference:latest"),
        ("spec.engine.builderImage", "pinned")),
    "builder image untagged": Invalid(
        _set("spec.engine.builderImage", "registry.example.org:5000/classroom-inference"),
        ("spec.engine.builderImage", "pinned")),
    "attention error above 1": Invalid(
        _set("spec.validation", {"maxAttentionError": 1.5}),
        ("spec.validation.maxAttentionError", "less than or equal to 1")),
    "emotion agreement negative": Invalid(
        _set("spec.validation", {"minEmotionAgreement": -0.1}),
        ("spec.validation.minEmotionAgreement", "greater than or equal to 0")),
    "validation uri without sha256": Invalid(
        _set("spec.validation", {"uri": "s3://district/validation.tar"}),
        ("spec.validation.sha256", "go together")),
    "replicas min above max": Invalid(
        _set("spec.serving.replicas", {"min": 8, "max": 2}),
        ("spec.serving.replicas", "min <= max")),
    "target fps zero": Invalid(
        _set("spec.serving.targetFps", 0),
        ("spec.serving.targetFps", "greater than or equal to 1")),
    "resource quantity malformed": Invalid(
        _set("spec.serving.resources", {"limits": {"memory": "lots"}}),
        ("spec.serving.resources.limits.memory",)),
    "toleration operator not offered": Invalid(
        _set("spec.serving.tolerations", [{"key": "gpu", "operator": "Matches"}]),
        ("spec.serving.tolerations[0].operator", "Exists")),
    "distracted after zero seconds": Invalid(
        _set("spec.analysis", {"distractedAfterSeconds": 0}),
        ("spec.analysis.distractedAfterSeconds", "greater than 0")),
    "smoothing negative": Invalid(
        _set("spec.analysis", {"smoothingSeconds": -2}),
        ("spec.analysis.smoothingSeconds", "greater than 0")),
    "attention threshold above 1": Invalid(
        _set("spec.analysis", {"attentionThreshold": 1.2}),
        ("spec.analysis.attentionThreshold", "less than or equal to 1")),
    "sink url with ftp scheme": Invalid(
        _set("spec.sink", {"webhook": {"url": "ftp://labels.example.org"}}),
        ("spec.sink.webhook.url", "https or http")),
    "sink secretRef without key": Invalid(
        _set("spec.sink", {"webhook": {"url": "https://labels.example.org",
                                       "secretRef": {"name": "sink"}}}),
        ("spec.sink.webhook.secretRef.key", "Required")),
    "classroom name with capitals": Invalid(
        _set("spec.classrooms.0.name", "Room_101"),
        ("spec.classrooms[0].name", "DNS label")),
    "classroom names repeated": Invalid(
        _set("spec.classrooms", [{"name": "room-1", "streams": [{"url": "rtsp://a/1"}]},
                                 {"name": "room-1", "streams": [{"url": "rtsp://a/2"}]}]),
        ("spec.classrooms[1]", "Duplicate", "room-1")),
    "classroom without streams": Invalid(
        _set("spec.classrooms.0.streams", []), ("spec.classrooms[0].streams",)),
    "stream url with udp scheme": Invalid(
        _set("spec.classrooms.0.streams", [{"url": "udp://239.0.0.1:1234"}]),
        ("spec.classrooms[0].streams[0].url", "rtsp, rtsps, http, https or file")),
    "stream layout not offered": Invalid(
        _set("spec.classrooms.0.streams", [{"url": "rtsp://a/1", "layout": "panorama"}]),
        ("spec.classrooms[0].streams[0].layout", "per-student")),
    "too many streams in a classroom": Invalid(
        _set("spec.classrooms", _rooms(1, 41)),
        ("spec.classrooms[0].streams", "must have at most 40 items")),
    "too many classrooms": Invalid(
        _set("spec.classrooms", _rooms(51, 1)), ("spec.classrooms", "at most 50 items")),
    "too many streams in all": Invalid(
        _set("spec.classrooms", _rooms(26, 40)),
        ("spec.classrooms", "at most 1000 streams", "classroomSelector")),
    "inline classrooms and a selector": Invalid(
        _set("spec.classroomSelector", {"matchLabels": {"school": "lincoln"}}),
        ("spec.classroomSelector", "exclusive")),
    "selector In without values": Invalid(
        lambda obj: obj["spec"].update(classrooms=None, classroomSelector={
            "matchExpressions": [{"key": "grade", "operator": "In"}]}) or obj["spec"].pop(
            "classrooms"),
        ("spec.classroomSelector.matchExpressions[0].values", "non-empty")),
    "unknown field": Invalid(
        _set("spec.engine.precisionMode", "fp16"), ("spec.engine.precisionMode", "unknown")),
    "model missing": Invalid(_drop("spec.model"), ("spec.model", "Required")),
    "classroom name not a DNS label": Invalid(
        _set("metadata.name", "room.101"), ("metadata.name", "DNS label"), kind="Classroom"),
    "classroom stream with udp scheme": Invalid(
        _set("spec.streams", [{"url": "udp://239.0.0.1:1234"}]),
        ("spec.streams[0].url", "rtsp, rtsps, http, https or file"), kind="Classroom"),
    "classroom without streams at all": Invalid(
        _set("spec.streams", []), ("spec.streams",), kind="Classroom"),
    "classroom seats zero": Invalid(
        _set("spec.seats", 0), ("spec.seats", "greater than or equal to 1"), kind="Classroom"),
    "classroom grade too long": Invalid(
        _set("spec.grade", "g" * 40), ("spec.grade", "32"), kind="Classroom"),
}

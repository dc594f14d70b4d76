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

# The password in the cases that put credentials in a URL: a refusal must not repeat it.
PASSWORD = "hunter2-classroom"


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


def _selector(selector: Obj) -> Callable[[Obj], None]:
    """Serve Classroom resources picked by `selector` instead of the inline classrooms."""

    def change(obj: Obj) -> None:
        del obj["spec"]["classrooms"]
        obj["spec"]["classroomSelector"] = selector

    return change


def _resources(resources: Obj) -> Callable[[Obj], None]:
    return _set("spec.serving.resources", resources)


def _stream(**fields: Any) -> Callable[[Obj], None]:
    """Replace the inline classroom's one stream by `fields` (url defaulted)."""
    return _set("spec.classrooms.0.streams", [{"url": "rtsp://cam.example/101", **fields}])


def _room_stream(**fields: Any) -> Callable[[Obj], None]:
    """The same for the Classroom resource's one stream."""
    return _set("spec.streams", [{"url": "rtsp://cam.example/101", **fields}])


def _sink(**secret_ref: Any) -> Callable[[Obj], None]:
    return _set("spec.sink", {"webhook": {"url": "https://labels.example.org/v1/events",
                                          "secretRef": {"name": "sink", "key": "token",
                                                        **secret_ref}}})


def _tolerations(*tolerations: Obj) -> Callable[[Obj], None]:
    return _set("spec.serving.tolerations", list(tolerations))


def _rooms(count: int, streams: int) -> list[Obj]:
    return [{"name": f"room-{i}", "streams": [{"url": f"rtsp://cam.example/{i}/{s}"}
                                             for s in range(streams)]} for i in range(count)]


INVALID: dict[str, Invalid] = {
    "model uri with ftp scheme": Invalid(
        _set("spec.model.uri", "ftp://models.example.org/a.onnx"),
        ("spec.model.uri", "https, http, s3 or file")),
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
            "uri": "s3://models/calib.tar", "sha256": "not-a-checksum"}}),
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
        ("spec.serving.resources.limits[memory]", "Kubernetes quantities")),
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
        _set("spec.classrooms", _rooms(21, 1)), ("spec.classrooms", "at most 20 items")),
    "too many streams in all": Invalid(
        _set("spec.classrooms", _rooms(3, 34)),
        ("spec.classrooms", "at most 100 streams", "classroomSelector")),
    "inline classrooms and a selector": Invalid(
        _set("spec.classroomSelector", {"matchLabels": {"school": "lincoln"}}),
        ("spec.classroomSelector", "exclusive")),
    "selector In without values": Invalid(
        _selector({"matchExpressions": [{"key": "grade", "operator": "In"}]}),
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
    # -- URLs carry no whitespace, control characters or credentials ------------------------
    "model uri ending in a newline": Invalid(
        _set("spec.model.uri", "https://models.example.org/a.onnx\n"),
        ("spec.model.uri", "no whitespace or control characters", "%20")),
    "model uri with a leading space": Invalid(
        _set("spec.model.uri", " https://models.example.org/a.onnx"),
        ("spec.model.uri", "no whitespace or control characters")),
    "model uri with a NUL": Invalid(
        _set("spec.model.uri", "https://models.example.org/a\x00.onnx"),
        ("spec.model.uri", "no whitespace or control characters")),
    "model uri with an escape": Invalid(
        _set("spec.model.uri", "https://models.example.org/\x1b[31ma.onnx"),
        ("spec.model.uri", "no whitespace or control characters")),
    "model uri with credentials": Invalid(
        _set("spec.model.uri", f"s3://AKIA:{PASSWORD}@district-models/a.onnx"),
        ("spec.model.uri", "must not carry credentials", "Secret")),
    "http uri with credentials": Invalid(
        _set("spec.model.uri", f"http://admin:{PASSWORD}@models.models.svc/a.onnx"),
        ("spec.model.uri", "must not carry credentials")),
    "model uri without a host": Invalid(
        _set("spec.model.uri", "https:///a.onnx"), ("spec.model.uri", "needs a host")),
    "model uri with an s3 bucket only": Invalid(
        _set("spec.model.uri", "s3://district-models"),
        ("spec.model.uri", "s3://<bucket>/<key>")),
    "model uri with a relative file path": Invalid(
        _set("spec.model.uri", "file://models/a.onnx"),
        ("spec.model.uri", "file:///<absolute path>")),
    "calibration uri with a tab": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": "s3://models/calib\t.tar", "sha256": SHA}}),
        ("spec.engine.calibration.uri", "no whitespace or control characters")),
    "calibration uri with credentials": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": f"https://{PASSWORD}@models.example.org/calib.tar", "sha256": SHA}}),
        ("spec.engine.calibration.uri", "must not carry credentials")),
    "validation uri with CR LF": Invalid(
        _set("spec.validation", {"uri": "https://models.example.org/v.tar\r\nX-Evil: 1",
                                 "sha256": SHA}),
        ("spec.validation.uri", "no whitespace or control characters")),
    "validation uri with credentials": Invalid(
        _set("spec.validation", {"uri": f"https://ci:{PASSWORD}@models.example.org/v.tar",
                                 "sha256": SHA}),
        ("spec.validation.uri", "must not carry credentials")),
    "sink url with a trailing space": Invalid(
        _set("spec.sink", {"webhook": {"url": "https://labels.example.org/v1 "}}),
        ("spec.sink.webhook.url", "no whitespace or control characters")),
    "sink url with credentials": Invalid(
        _set("spec.sink", {"webhook": {"url": f"https://bot:{PASSWORD}@labels.example.org/v1"}}),
        ("spec.sink.webhook.url", "must not carry credentials", "spec.sink.webhook.secretRef")),
    "sink url without a host": Invalid(
        _set("spec.sink", {"webhook": {"url": "https://"}}), ("spec.sink.webhook.url",)),
    "stream url with a newline": Invalid(
        _stream(url="rtsp://cam.example/101\nrtsp://cam.example/102"),
        ("spec.classrooms[0].streams[0].url", "no whitespace or control characters")),
    "stream url with a space inside": Invalid(
        _stream(url="rtsp://cam.example/room 101"),
        ("spec.classrooms[0].streams[0].url", "percent-encode a space as %20")),
    "stream url with a look-alike host": Invalid(
        _stream(url="rtsp://c\u0430m.example/101"),  # Cyrillic a
        ("spec.classrooms[0].streams[0].url", "non-ASCII")),
    "stream url with user and password": Invalid(
        _stream(url=f"rtsp://admin:{PASSWORD}@cam.example/101"),
        ("spec.classrooms[0].streams[0].url",
         "must not carry credentials: put them in a Secret with keys username and password "
         "and name it in credentialsSecretRef")),
    "stream url with a user only": Invalid(
        _stream(url=f"rtsps://{PASSWORD}@cam.example/101"),
        ("spec.classrooms[0].streams[0].url", "must not carry credentials")),
    "stream url without a host": Invalid(
        _stream(url="rtsp:///101"), ("spec.classrooms[0].streams[0].url", "needs a host")),
    "stream urls repeated in a classroom": Invalid(
        _set("spec.classrooms.0.streams", [{"url": "rtsp://cam.example/101"},
                                           {"url": "rtsp://cam.example/101", "layout": "room"}]),
        ("spec.classrooms[0].streams", "unique in a classroom")),
    "stream url longer than 512": Invalid(
        _stream(url="rtsp://cam.example/" + "a" * 500),
        ("spec.classrooms[0].streams[0].url", "512")),
    "stream credentials written inline": Invalid(
        _stream(credentialsSecretRef={"name": "cams", "password": PASSWORD}),
        ("spec.classrooms[0].streams[0].credentialsSecretRef.password", "unknown field")),
    "stream credentials Secret name with a space": Invalid(
        _stream(credentialsSecretRef={"name": "room 101"}),
        ("spec.classrooms[0].streams[0].credentialsSecretRef.name", "Secret name")),
    "classroom credentials Secret name upper case": Invalid(
        _set("spec.classrooms.0.credentialsSecretRef", {"name": "Room101-Cameras"}),
        ("spec.classrooms[0].credentialsSecretRef.name", "DNS subdomain")),
    "classroom credentials ref without a name": Invalid(
        _set("spec.classrooms.0.credentialsSecretRef", {}),
        ("spec.classrooms[0].credentialsSecretRef.name", "Required")),
    # -- pvc:// cannot be read by a build Job: refused with the reason and the way out ---------
    "model uri on a claim": Invalid(
        _set("spec.model.uri", "pvc://models/a.onnx"),
        ("spec.model.uri", "pvc:// is not supported", "s3://")),
    "calibration uri on a claim": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": "pvc://models/calib.tar", "sha256": SHA}}),
        ("spec.engine.calibration.uri", "pvc:// is not supported")),
    "validation uri on a claim": Invalid(
        _set("spec.validation", {"uri": "pvc://models/v.tar", "sha256": SHA}),
        ("spec.validation.uri", "pvc:// is not supported")),
    # -- file:// paths are plain ---------------------------------------------------------------
    "file path ending in ..": Invalid(
        _set("spec.model.uri", "file:///models/a/.."), ("spec.model.uri", "'..' path")),
    "file path with a backslash": Invalid(
        _set("spec.model.uri", "file:///models/..\\secrets\\a.onnx"),
        ("spec.model.uri", "backslashes")),
    "file path with encoded dots": Invalid(
        _set("spec.model.uri", "file:///models/%2E%2e/secrets/a.onnx"),
        ("spec.model.uri", "%2e")),
    "file path climbing out": Invalid(
        _set("spec.model.uri", "file:///models/../../etc/shadow"), ("spec.model.uri", "'..' path")),
    "calibration file path climbing out": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": "file:///models/../calib.tar", "sha256": SHA}}),
        ("spec.engine.calibration.uri", "'..' path")),
    # -- resources ----------------------------------------------------------------------------
    "negative cpu request": Invalid(
        _resources({"requests": {"cpu": "-1"}}),
        ("spec.serving.resources.requests", "must not be negative")),
    "negative integer memory limit": Invalid(
        _resources({"limits": {"memory": -5}}),
        ("spec.serving.resources.limits", "must not be negative")),
    "quantity with two dots": Invalid(
        _resources({"requests": {"memory": "1.5.5Gi"}}),
        ("spec.serving.resources.requests", "Kubernetes quantities")),
    "quantity with a unit typo": Invalid(
        _resources({"limits": {"memory": "16GB"}}),
        ("spec.serving.resources.limits", "Kubernetes quantities")),
    "request above its limit": Invalid(
        _resources({"requests": {"memory": "32Gi"}, "limits": {"memory": "16Gi"}}),
        ("spec.serving.resources.requests", "must not exceed")),
    "resource name with a space": Invalid(
        _resources({"limits": {"nvidia gpu": 1}}),
        ("spec.serving.resources.limits", "resource names")),
    # -- label syntax ---------------------------------------------------------------------------
    "node selector key with a space": Invalid(
        _set("spec.serving.nodeSelector", {"gpu kind": "a100"}),
        ("spec.serving.nodeSelector", "label keys")),
    "node selector key prefix too long": Invalid(
        _set("spec.serving.nodeSelector", {"a" * 254 + "/gpu": "a100"}),
        ("spec.serving.nodeSelector", "label keys")),
    "node selector key name too long": Invalid(
        _set("spec.serving.nodeSelector", {"example.org/" + "g" * 64: "a100"}),
        ("spec.serving.nodeSelector", "label keys")),
    "node selector value with a slash": Invalid(
        _set("spec.serving.nodeSelector", {"gpu": "nvidia/a100"}),
        ("spec.serving.nodeSelector", "label values")),
    "node selector value too long": Invalid(
        _set("spec.serving.nodeSelector", {"gpu": "a" * 64}),
        ("spec.serving.nodeSelector", "63")),
    "node selector with 1000 keys": Invalid(
        _set("spec.serving.nodeSelector", {f"k{i}": "v" for i in range(1000)}),
        ("spec.serving.nodeSelector", "at most 16")),
    "selector label key starting with a dash": Invalid(
        _selector({"matchLabels": {"-school": "lincoln"}}),
        ("spec.classroomSelector.matchLabels", "label keys")),
    "selector label value with a space": Invalid(
        _selector({"matchLabels": {"school": "lincoln high"}}),
        ("spec.classroomSelector.matchLabels", "label values")),
    "selector expression key with a bang": Invalid(
        _selector({"matchExpressions": [{"key": "grade!", "operator": "Exists"}]}),
        ("spec.classroomSelector.matchExpressions[0].key", "label key")),
    "selector operator lower case": Invalid(
        _selector({"matchExpressions": [{"key": "grade", "operator": "in", "values": ["7"]}]}),
        ("spec.classroomSelector.matchExpressions[0].operator", "NotIn")),
    "selector Exists with values": Invalid(
        _selector({"matchExpressions": [{"key": "grade", "operator": "Exists",
                                         "values": ["7"]}]}),
        ("spec.classroomSelector.matchExpressions[0].values", "absent for Exists")),
    "selector DoesNotExist with values": Invalid(
        _selector({"matchExpressions": [{"key": "grade", "operator": "DoesNotExist",
                                         "values": ["7"]}]}),
        ("spec.classroomSelector.matchExpressions[0].values", "DoesNotExist")),
    "selector value not a label value": Invalid(
        _selector({"matchExpressions": [{"key": "grade", "operator": "In",
                                         "values": ["7th grade"]}]}),
        ("spec.classroomSelector.matchExpressions[0].values[0]", "label values")),
    "selector values repeated": Invalid(
        _selector({"matchExpressions": [{"key": "grade", "operator": "NotIn",
                                         "values": ["7", "7"]}]}),
        ("spec.classroomSelector.matchExpressions[0].values[1]", "Duplicate")),
    # -- Secret references -------------------------------------------------------------------
    "sink Secret name with an underscore": Invalid(
        _sink(name="classroom_sink"), ("spec.sink.webhook.secretRef.name", "Secret name")),
    "sink Secret key climbing out": Invalid(
        _sink(key="../token"), ("spec.sink.webhook.secretRef.key", "Secret key")),
    "sink Secret key ..": Invalid(
        _sink(key=".."), ("spec.sink.webhook.secretRef.key", "Secret key")),
    "sink Secret key longer than 253": Invalid(
        _sink(key="t" * 254), ("spec.sink.webhook.secretRef.key", "253")),
    "signing key with a space": Invalid(
        _sink(signingKey="signing key"),
        ("spec.sink.webhook.secretRef.signingKey", "Secret key")),
    "signing key is the bearer token": Invalid(
        _sink(signingKey="token"),
        ("spec.sink.webhook.secretRef.signingKey", "must differ from")),
    "signing key given as the default key's value": Invalid(
        _sink(key="signing-key"),
        ("spec.sink.webhook.secretRef.signingKey", "must differ from")),
    # -- seats ---------------------------------------------------------------------------------
    "inline seats zero": Invalid(
        _set("spec.classrooms.0.seats", 0),
        ("spec.classrooms[0].seats", "greater than or equal to 1")),
    "inline seats above 500": Invalid(
        _set("spec.classrooms.0.seats", 501),
        ("spec.classrooms[0].seats", "less than or equal to 500")),
    "inline seats as text": Invalid(
        _set("spec.classrooms.0.seats", "30"), ("spec.classrooms[0].seats", "integer")),
    "inline seats fractional": Invalid(
        _set("spec.classrooms.0.seats", 30.5), ("spec.classrooms[0].seats", "integer")),
    # -- emotion labels and heads --------------------------------------------------------------
    "one emotion label": Invalid(
        _set("spec.model.emotionLabels", ["happy"]),
        ("spec.model.emotionLabels", "at least 2 items")),
    "33 emotion labels": Invalid(
        _set("spec.model.emotionLabels", [f"e{'x' * i}" for i in range(33)]),
        ("spec.model.emotionLabels", "at most 32 items")),
    "emotion label capitalised": Invalid(
        _set("spec.model.emotionLabels", ["Happy", "sad"]),
        ("spec.model.emotionLabels[0]", "short lowercase word")),
    "emotion label with a space": Invalid(
        _set("spec.model.emotionLabels", ["very happy", "sad"]),
        ("spec.model.emotionLabels[0]", "short lowercase word")),
    "emotion label empty": Invalid(
        _set("spec.model.emotionLabels", ["", "sad"]), ("spec.model.emotionLabels[0]",)),
    "emotion label too long": Invalid(
        _set("spec.model.emotionLabels", ["a" * 25, "sad"]),
        ("spec.model.emotionLabels[0]", "24")),
    "attention and emotion from one output": Invalid(
        _set("spec.model.outputs", {"attention": "out", "emotion": "out"}),
        ("spec.model.outputs.emotion", "same ONNX output", "spec.model.outputs.attention")),
    "attention and engagement from one output": Invalid(
        _set("spec.model.outputs", {"attention": "scores", "engagement": "scores"}),
        ("spec.model.outputs.engagement", "same ONNX output", "spec.model.outputs.attention")),
    "emotion and engagement from one output": Invalid(
        _set("spec.model.outputs", {"emotion": "head", "engagement": "head"}),
        ("spec.model.outputs.engagement", "same ONNX output", "spec.model.outputs.emotion")),
    "output name with a newline": Invalid(
        _set("spec.model.outputs", {"emotion": "logits\nprobs"}),
        ("spec.model.outputs.emotion", "control characters")),
    "input name with a NUL": Invalid(
        _set("spec.model.input", {"name": "input\x00"}),
        ("spec.model.input.name", "control characters")),
    "output name empty": Invalid(
        _set("spec.model.outputs", {"attention": ""}), ("spec.model.outputs.attention",)),
    # -- every other field, as a careless or hostile user types it -----------------------------
    "input shape as text": Invalid(
        _set("spec.model.input", {"shape": ["3", "224", "224"]}),
        ("spec.model.input.shape[0]", "integer")),
    "input shape with a batch dimension": Invalid(
        _set("spec.model.input", {"shape": [1, 3, 224, 224]}),
        ("spec.model.input.shape", "at most 3 items")),
    "input shape huge": Invalid(
        _set("spec.model.input", {"shape": [3, 100000, 224]}),
        ("spec.model.input.shape[1]", "less than or equal to 4096")),
    "input name empty": Invalid(
        _set("spec.model.input", {"name": ""}), ("spec.model.input.name",)),
    "mean above 1": Invalid(
        _set("spec.model.input", {"mean": [1.5, 0.5, 0.5]}),
        ("spec.model.input.mean[0]", "less than or equal to 1")),
    "colour order lower case": Invalid(
        _set("spec.model.input", {"colorOrder": "rgb"}),
        ("spec.model.input.colorOrder", "RGB", "BGR")),
    "sha256 one character long": Invalid(
        _set("spec.model.sha256", SHA + "0"), ("spec.model.sha256", "64")),
    "precision upper case": Invalid(
        _set("spec.engine.precision", "FP16"), ("spec.engine.precision", "fp16")),
    "batch min zero": Invalid(
        _set("spec.engine.batch", {"min": 0, "opt": 1, "max": 8}),
        ("spec.engine.batch.min", "greater than or equal to 1")),
    "batch opt as text": Invalid(
        _set("spec.engine.batch", {"min": 1, "opt": "64", "max": 128}),
        ("spec.engine.batch.opt", "integer")),
    "workspace of a petabyte": Invalid(
        _set("spec.engine.workspaceMiB", 10**9), ("spec.engine.workspaceMiB", "262144")),
    "timing cache as text": Invalid(
        _set("spec.engine.timingCache", "yes"), ("spec.engine.timingCache", "boolean")),
    "builder image with a space": Invalid(
        _set("spec.engine.builderImage", "registry.example.org/classroom inference:0.1.0"),
        ("spec.engine.builderImage", "without spaces")),
    "builder image with a capital in the path": Invalid(
        _set("spec.engine.builderImage", "registry.example.org/Classroom-Inference:0.1.0"),
        ("spec.engine.builderImage", "lowercase/path")),
    "builder image digest cut short": Invalid(
        _set("spec.engine.builderImage", "registry.example.org/classroom-inference@sha256:abc"),
        ("spec.engine.builderImage", "pinned")),
    "calibration of 8 samples": Invalid(
        _set("spec.engine", {"precision": "int8", "calibration": {
            "uri": "s3://models/calib.tar", "sha256": SHA, "samples": 8}}),
        ("spec.engine.calibration.samples", "greater than or equal to 16")),
    "validation samples zero": Invalid(
        _set("spec.validation", {"samples": 0}),
        ("spec.validation.samples", "greater than or equal to 1")),
    "latency regression negative": Invalid(
        _set("spec.validation", {"maxLatencyRegressionPercent": -1}),
        ("spec.validation.maxLatencyRegressionPercent", "greater than or equal to 0")),
    "target fps a million": Invalid(
        _set("spec.serving.targetFps", 10**6),
        ("spec.serving.targetFps", "less than or equal to 120")),
    "latency zero": Invalid(
        _set("spec.serving.maxLatencyMs", 0),
        ("spec.serving.maxLatencyMs", "greater than or equal to 1")),
    "replicas min 0 and max 0": Invalid(
        _set("spec.serving.replicas", {"min": 0, "max": 0}),
        ("spec.serving.replicas.min", "spec.serving.replicas.max",
         "greater than or equal to 1")),
    "replicas max above 1024": Invalid(
        _set("spec.serving.replicas", {"min": 1, "max": 5000}),
        ("spec.serving.replicas.max", "less than or equal to 1024")),
    "toleration operator Equals": Invalid(
        _tolerations({"key": "gpu", "operator": "Equals", "value": "a100"}),
        ("spec.serving.tolerations[0].operator", "Equal")),
    "toleration effect misspelt": Invalid(
        _tolerations({"key": "gpu", "operator": "Exists", "effect": "NoScheduled"}),
        ("spec.serving.tolerations[0].effect", "PreferNoSchedule")),
    "toleration without key needs Exists": Invalid(
        _tolerations({"operator": "Equal", "value": "a100"}),
        ("spec.serving.tolerations[0].operator", "must be Exists when key is empty")),
    "toleration Exists with a value": Invalid(
        _tolerations({"key": "gpu", "operator": "Exists", "value": "a100"}),
        ("spec.serving.tolerations[0].value", "empty with operator Exists")),
    "toleration seconds without NoExecute": Invalid(
        _tolerations({"key": "gpu", "operator": "Exists", "effect": "NoSchedule",
                      "tolerationSeconds": 60}),
        ("spec.serving.tolerations[0].tolerationSeconds", "only to effect NoExecute")),
    "toleration seconds negative": Invalid(
        _tolerations({"key": "gpu", "operator": "Exists", "effect": "NoExecute",
                      "tolerationSeconds": -1}),
        ("spec.serving.tolerations[0].tolerationSeconds", "greater than or equal to 0")),
    "toleration key with a space": Invalid(
        _tolerations({"key": "nvidia gpu", "operator": "Exists"}),
        ("spec.serving.tolerations[0].key", "label key")),
    "toleration value with a space": Invalid(
        _tolerations({"key": "gpu", "value": "a 100"}),
        ("spec.serving.tolerations[0].value", "label value")),
    "seventeen tolerations": Invalid(
        _tolerations(*({"key": f"t{i}", "operator": "Exists"} for i in range(17))),
        ("spec.serving.tolerations", "at most 16 items")),
    "attention threshold as text": Invalid(
        _set("spec.analysis", {"attentionThreshold": "0.5"}),
        ("spec.analysis.attentionThreshold", "number")),
    "summary every billion seconds": Invalid(
        _set("spec.analysis", {"summaryEverySeconds": 10**9}),
        ("spec.analysis.summaryEverySeconds", "less than or equal to 86400")),
    "sink without url": Invalid(
        _set("spec.sink", {"webhook": {"secretRef": {"name": "sink", "key": "token"}}}),
        ("spec.sink.webhook.url", "Required")),
    "sink url over rtsp": Invalid(
        _set("spec.sink", {"webhook": {"url": "rtsp://labels.example.org"}}),
        ("spec.sink.webhook.url", "https or http")),
    "classroom name with a look-alike letter": Invalid(
        _set("spec.classrooms.0.name", "r\u043e\u043em-101"),  # Cyrillic o
        ("spec.classrooms[0].name", "DNS label")),
    "classroom name of 64 characters": Invalid(
        _set("spec.classrooms.0.name", "r" * 64), ("spec.classrooms[0].name", "63")),
    "inline stream layout capitalised": Invalid(
        _stream(layout="Room"), ("spec.classrooms[0].streams[0].layout", "per-student")),
    "inline stream typo in a field name": Invalid(
        _stream(layuot="room"), ("spec.classrooms[0].streams[0].layuot", "unknown field")),
    # -- Classroom resources -------------------------------------------------------------------
    "classroom resource name with a look-alike letter": Invalid(
        _set("metadata.name", "r\u043e\u043em-101"), ("metadata.name", "DNS label"),
        kind="Classroom"),
    "classroom resource stream with credentials": Invalid(
        _room_stream(url=f"rtsp://admin:{PASSWORD}@cam.example/101"),
        ("spec.streams[0].url", "must not carry credentials", "credentialsSecretRef"),
        kind="Classroom"),
    "classroom resource stream with DEL": Invalid(
        _room_stream(url="rtsp://cam.example/101\x7f"),
        ("spec.streams[0].url", "no whitespace or control characters"), kind="Classroom"),
    "classroom resource stream urls repeated": Invalid(
        _set("spec.streams", [{"url": "rtsp://cam.example/101"},
                              {"url": "rtsp://cam.example/101"}]),
        ("spec.streams", "unique in a classroom"), kind="Classroom"),
    "classroom resource with 65 streams": Invalid(
        _set("spec.streams", [{"url": f"rtsp://cam.example/{i}"} for i in range(65)]),
        ("spec.streams", "at most 64 items"), kind="Classroom"),
    "classroom resource stream url longer than 1024": Invalid(
        _room_stream(url="rtsp://cam.example/" + "a" * 1010),
        ("spec.streams[0].url", "1024"), kind="Classroom"),
    "classroom resource credentials Secret name with a dot at the end": Invalid(
        _set("spec.credentialsSecretRef", {"name": "cameras."}),
        ("spec.credentialsSecretRef.name", "Secret name"), kind="Classroom"),
    "classroom resource stream password inline": Invalid(
        _room_stream(credentialsSecretRef={"name": "cams", "username": "admin"}),
        ("spec.streams[0].credentialsSecretRef.username", "unknown field"), kind="Classroom"),
    "classroom resource seats above 500": Invalid(
        _set("spec.seats", 501), ("spec.seats", "less than or equal to 500"), kind="Classroom"),
    "classroom resource seats negative": Invalid(
        _set("spec.seats", -3), ("spec.seats", "greater than or equal to 1"), kind="Classroom"),
    "classroom resource school with a newline": Invalid(
        _set("spec.school", "lincoln\nhigh"), ("spec.school", "control characters"),
        kind="Classroom"),
    "classroom resource grade with a tab": Invalid(
        _set("spec.grade", "7\t"), ("spec.grade", "control characters"), kind="Classroom"),
    "classroom resource school too long": Invalid(
        _set("spec.school", "s" * 129), ("spec.school", "128"), kind="Classroom"),
    "classroom resource field misspelt": Invalid(
        _set("spec.seat", 30), ("spec.seat", "unknown field"), kind="Classroom"),
}


def _valid(change: Callable[[Obj], None], kind: str = "ClassroomModel") -> Obj:
    obj = copy.deepcopy(valid_model() if kind == "ClassroomModel" else valid_classroom())
    change(obj)
    return obj


# Objects near the edges of the rules that must still be accepted: a rule that refused these
# would refuse real sites.
VALID: dict[str, Obj] = {
    "every privacy field set": _valid(lambda obj: obj["spec"].update(
        sink={"webhook": {"url": "https://labels.example.org:8443/v1/events?site=7",
                          "secretRef": {"name": "classroom-sink", "key": "token",
                                        "signingKey": "hmac.key"}}},
        classrooms=[{"name": "room-101", "seats": 500,
                     "credentialsSecretRef": {"name": "room-101.cameras"},
                     "streams": [{"url": "rtsp://cam.example/101", "layout": "room"},
                                 {"url": "rtsps://10.0.0.7:322/stream@main",
                                  "credentialsSecretRef": {"name": "seat-cameras"}}]}])),
    "source uris of every scheme": _valid(lambda obj: obj["spec"].update(
        model={**obj["spec"]["model"], "uri": "http://models.v2.svc:8080/attention/v1..final.onnx"},
        engine={"precision": "int8", "calibration": {
            "uri": "s3://district-7.models/calibration/crops.tar", "sha256": SHA}},
        validation={"uri": "file:///var/lib/classroom/validation/.crops.tar",
                    "sha256": SHA})),
    "resources of zero, integers and equal requests and limits": _valid(_resources({
        "requests": {"cpu": "500m", "memory": "8Gi", "nvidia.com/gpu": 1,
                     "ephemeral-storage": 0},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": 1}})),
    "tolerations and node labels in every allowed form": _valid(lambda obj: obj["spec"].update(
        serving={"nodeSelector": {"node-role.district-7.example/inference": "",
                                  "gpu": "a100_80gb.sxm4"},
                 "tolerations": [{"operator": "Exists"},
                                 {"key": "nvidia.com/gpu", "operator": "Exists",
                                  "effect": "NoExecute", "tolerationSeconds": 300},
                                 {"key": "pool", "value": "inference-1",
                                  "effect": "NoSchedule"}]})),
    "selector with every operator": _valid(_selector({
        "matchLabels": {"classroom-operator.io/district": "district-7", "wing": ""},
        "matchExpressions": [{"key": "grade", "operator": "In", "values": ["6", "7"]},
                             {"key": "closed", "operator": "DoesNotExist", "values": []},
                             {"key": "school", "operator": "Exists"},
                             {"key": "example.org/stage", "operator": "NotIn",
                              "values": ["test"]}]})),
    "two emotion labels with hyphens and a pinned digest": _valid(lambda obj: obj["spec"].update(
        model={**obj["spec"]["model"], "emotionLabels": ["not-engaged", "engaged"]},
        engine={"builderImage": "registry.example.org:5000/classroom/inference@sha256:"
                + "a" * 64})),
    "classroom resource with every field": _valid(lambda obj: obj["spec"].update(
        school="Escuela José Martí", grade="7", seats=1,
        credentialsSecretRef={"name": "room-101-cameras"},
        streams=[{"url": "rtsp://cam.example/101/front", "layout": "room",
                  "credentialsSecretRef": {"name": "front-camera"}},
                 {"url": "https://cam.example/101/back.m3u8?token=abc"},
                 {"url": "file:///var/lib/classroom/recordings/101.mp4"}]), kind="Classroom"),
}

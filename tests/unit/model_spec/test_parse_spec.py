"""A ClassroomModel's spec becomes typed values with the CRD's defaults, or a SpecError that names
the field and says how to fix it."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from classroom_operator.spec import (
    EMOTION_LABELS,
    IMAGENET_MEAN,
    SpecError,
    Toleration,
    parse_spec,
)


def test_defaults_fill_what_the_spec_leaves_out(raw_spec: dict[str, Any]) -> None:
    spec = parse_spec(raw_spec)
    assert (spec.model.input.channels, spec.model.input.height, spec.model.input.width) == (
        3, 224, 224)
    assert spec.model.input.mean == IMAGENET_MEAN
    assert spec.model.input.layout == "NCHW"
    assert spec.model.emotion_labels == EMOTION_LABELS
    assert spec.model.outputs.engagement is None
    assert spec.engine.workspace_mib == 2048
    assert spec.engine.calibration is None
    assert (spec.engine.batch.min, spec.engine.batch.opt, spec.engine.batch.max) == (1, 32, 128)
    assert spec.validation.max_attention_error == pytest.approx(0.05)
    assert spec.validation.uri is None
    assert spec.serving.replicas_max == 16


def test_placement_keeps_selector_and_tolerations(raw_spec: dict[str, Any]) -> None:
    placement = parse_spec(raw_spec).serving.placement
    assert placement.node_selector == (("school", "lincoln"),)
    assert placement.tolerations == (
        Toleration(key="nvidia.com/gpu", operator="Exists", value="", effect="NoSchedule",
                   toleration_seconds=None),
    )
    # Placements are hashable so models sharing one share a node set in the index.
    assert hash(placement) == hash(parse_spec(copy.deepcopy(raw_spec)).serving.placement)


def test_grayscale_model_with_its_own_scaling(raw_spec: dict[str, Any]) -> None:
    raw_spec["model"]["input"] = {"shape": [1, 64, 64], "mean": [0.5], "std": [0.5]}
    spec = parse_spec(raw_spec)
    assert spec.model.input.channels == 1
    assert spec.model.input.mean == (0.5,)


def test_integers_in_mean_are_read_as_floats(raw_spec: dict[str, Any]) -> None:
    raw_spec["model"]["input"] = {"shape": [3, 96, 96], "mean": [0, 0, 0], "std": [1, 1, 1]}
    spec = parse_spec(raw_spec)
    assert spec.model.input.mean == (0.0, 0.0, 0.0)
    assert all(isinstance(value, float) for value in spec.model.input.std)


def _set(raw: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        raw = raw.setdefault(part, {})
    if value is None:
        raw.pop(last, None)
    else:
        raw[last] = value


@pytest.mark.parametrize(("path", "value", "field", "hint"), [
    ("model.sha256", "ABC", "spec.model.sha256", "64 lowercase hex"),
    ("model.uri", "ftp://models/x.onnx", "spec.model.uri", "https"),
    ("model.outputs", {}, "spec.model.outputs", "at least one head"),
    ("model.input", {"shape": [2, 224, 224]}, "spec.model.input.shape", "1 (grayscale) or 3"),
    ("model.input", {"shape": [3, 8, 8]}, "spec.model.input.shape", "16"),
    ("model.input", {"shape": [1, 64, 64], "mean": [0.4, 0.4, 0.4]}, "spec.model.input.mean",
     "one per channel"),
    ("model.input", {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0, 0.5]}, "spec.model.input.std",
     "above 0"),
    ("engine.precision", "int4", "spec.engine.precision", "fp32, fp16, int8"),
    ("engine.precision", "int8", "spec.engine.calibration", "required for precision int8"),
    ("engine.batch", {"min": 8, "opt": 4, "max": 16}, "spec.engine.batch", "min <= opt <= max"),
    ("engine.batch", {"max": 4096}, "spec.engine.batch.max", "1 to 1024"),
    ("engine.workspaceMiB", "lots", "spec.engine.workspaceMiB", "whole number"),
    ("validation.uri", "s3://crops/val.tar", "spec.validation.sha256", "together"),
    ("model.uri", "pvc://models/face.onnx", "spec.model.uri", "https"),
    ("validation.maxAttentionError", 2, "spec.validation.maxAttentionError", "0 to 1"),
    ("serving.replicas", {"min": 5, "max": 2}, "spec.serving.replicas", "min <= max"),
    ("serving.tolerations", [{"operator": "Maybe"}], "spec.serving.tolerations[0].operator",
     "Equal, Exists"),
    ("serving.nodeSelector", {"gpu": 1}, "spec.serving.nodeSelector", "strings"),
    ("classrooms", [{"name": "Room 1", "streams": [{"url": "rtsp://c"}]}],
     "spec.classrooms[0].name", "DNS label"),
    ("classrooms", [{"name": "a", "streams": [{"url": "rtsp://c"}]},
                    {"name": "a", "streams": [{"url": "rtsp://d"}]}],
     "spec.classrooms[1].name", "twice"),
    ("classrooms", [{"name": "a", "streams": [{"url": "smb://c"}]}],
     "spec.classrooms[0].streams[0].url", "rtsp"),
    ("classrooms", [{"name": "a", "streams": []}], "spec.classrooms[0].streams", "at least one"),
    ("classrooms", [{"name": "a", "seats": 0, "streams": [{"url": "rtsp://c"}]}],
     "spec.classrooms[0].seats", "from 1 to 500"),
    ("classrooms", [{"name": "a", "seats": 501, "streams": [{"url": "rtsp://c"}]}],
     "spec.classrooms[0].seats", "from 1 to 500"),
    ("classrooms", [{"name": "a", "seats": "thirty", "streams": [{"url": "rtsp://c"}]}],
     "spec.classrooms[0].seats", "whole number"),
    ("classrooms", [{"name": "a", "streams": [{"url": "rtsp://admin:hunter2@cam/1"}]}],
     "spec.classrooms[0].streams[0].url", "credentialsSecretRef"),
    ("classrooms", [{"name": "a", "credentialsSecretRef": {"name": "Cams!"},
                     "streams": [{"url": "rtsp://cam/1"}]}],
     "spec.classrooms[0].credentialsSecretRef.name", "username and password"),
    ("classrooms", [{"name": "a", "streams": [{"url": "rtsp://cam/1",
                                               "credentialsSecretRef": "cams"}]}],
     "spec.classrooms[0].streams[0].credentialsSecretRef.name", "Secret"),
    ("classroomSelector", {"matchLabels": {"school": "x"}}, "spec.classroomSelector",
     "not both"),
])
def test_bad_input_names_the_field_and_the_fix(raw_spec: dict[str, Any], path: str, value: Any,
                                               field: str, hint: str) -> None:
    _set(raw_spec, path, value)
    with pytest.raises(SpecError) as caught:
        parse_spec(raw_spec)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field}:")
    assert hint in str(caught.value)


def test_a_url_with_a_login_is_refused_without_repeating_it(raw_spec: dict[str, Any]) -> None:
    raw_spec["classrooms"] = [{"name": "a", "streams": [{"url": "ftp://admin:hunter2@cam/1"}]}]
    with pytest.raises(SpecError) as caught:
        parse_spec(raw_spec)
    assert "hunter2" not in str(caught.value)


def test_missing_model_is_an_error_not_a_crash() -> None:
    with pytest.raises(SpecError, match=r"^spec\.model: is required"):
        parse_spec({"engine": {}})


def test_parsing_never_changes_the_stored_spec(raw_spec: dict[str, Any]) -> None:
    before = copy.deepcopy(raw_spec)
    parse_spec(raw_spec)
    assert raw_spec == before


def test_inline_classrooms_may_declare_their_seats(raw_spec: dict[str, Any]) -> None:
    raw_spec["classrooms"] = [
        {"name": "room-a", "seats": 24, "streams": [{"url": "rtsp://c/a", "layout": "room"}]},
        {"name": "room-b", "streams": [{"url": "rtsp://c/b"}]}]
    rooms = parse_spec(raw_spec).classrooms
    assert [(room.name, room.seats) for room in rooms] == [("room-a", 24), ("room-b", None)]

"""CLASSROOM_BUILD_SPEC parsed with the CRD's defaults; each bad field named with its fix."""

from __future__ import annotations

from typing import Any

import pytest
from classroom_inference.builder.errors import InvalidSpec
from classroom_inference.builder.spec import (
    DEFAULT_EMOTIONS,
    IMAGENET_MEAN,
    load_spec,
    parse_spec,
)

MODEL = {"uri": "https://models.example/face.onnx", "sha256": "a" * 64,
         "outputs": {"emotion": "probs"}}


def _with(**model: Any) -> dict[str, Any]:
    return {"model": dict(MODEL, **model)}


def test_defaults_follow_the_crd() -> None:
    spec = parse_spec(_with())
    assert spec.model.input.name == "input"
    assert (spec.model.input.channels, spec.model.input.height, spec.model.input.width) == (
        3, 224, 224)
    assert spec.model.input.layout == "NCHW" and spec.model.input.color_order == "RGB"
    assert spec.model.input.mean == IMAGENET_MEAN
    assert spec.model.emotion_labels == DEFAULT_EMOTIONS
    assert spec.engine.precision == "fp16"
    assert (spec.engine.batch.min, spec.engine.batch.opt, spec.engine.batch.max) == (1, 64, 256)
    assert spec.engine.workspace_mib == 2048 and spec.engine.timing_cache is True
    assert spec.validation.max_attention_error == 0.05
    assert spec.validation.min_emotion_agreement == 0.9
    assert spec.validation.samples.samples == 256 and spec.validation.samples.uri is None


def test_grayscale_minus_one_to_one() -> None:
    spec = parse_spec(_with(input={"shape": [1, 64, 64], "mean": [0.5], "std": [0.5]}))
    assert spec.model.input.channels == 1
    assert spec.model.input.mean == (0.5,) and spec.model.input.std == (0.5,)


def test_the_default_emotion_labels_are_the_fer_2013_order() -> None:
    assert parse_spec(_with()).model.emotion_labels == (
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")


@pytest.mark.parametrize("given", [{}, {"mean": [0.5]}, {"std": [0.5]}])
def test_a_grayscale_model_must_say_its_normalisation(given: dict[str, Any]) -> None:
    missing = "std" if "mean" in given else "mean"
    with pytest.raises(InvalidSpec) as refused:
        parse_spec(_with(input={"shape": [1, 64, 64], **given}))
    message = str(refused.value)
    assert f"spec.model.input.{missing}: required for a 1-channel model" in message
    assert "[-1, 1] are mean [0.5], std [0.5]" in message
    assert refused.value.permanent and refused.value.exit_code == 2


def test_one_output_for_two_heads_is_refused() -> None:
    with pytest.raises(InvalidSpec) as refused:
        parse_spec(_with(outputs={"attention": "score", "engagement": "score",
                                  "emotion": "probs"}))
    message = str(refused.value)
    assert "spec.model.outputs: attention and engagement both map to the model's output " \
           "'score'" in message
    assert "each head needs its own output" in message


def test_one_value_applies_to_every_channel() -> None:
    spec = parse_spec(_with(input={"mean": [0.5], "std": [0.25]}))
    assert spec.model.input.mean == (0.5, 0.5, 0.5) and spec.model.input.std == (0.25,) * 3


def test_gpu_fields_are_carried() -> None:
    spec = parse_spec({**_with(), "gpu": {"product": "NVIDIA-H100-80GB-HBM3",
                                          "computeCapability": "9.0", "driverMajor": 580}})
    assert spec.gpu.product == "NVIDIA-H100-80GB-HBM3" and spec.gpu.driver_major == 580


@pytest.mark.parametrize(("doc", "words"), [
    ({"model": {"sha256": "a" * 64, "outputs": {"emotion": "p"}}}, ["spec.model.uri", "required"]),
    (_with(uri="ftp://x/face.onnx"), ["spec.model.uri", "no supported scheme", "s3"]),
    (_with(uri="pvc://models/face.onnx"), ["spec.model.uri", "not supported", "s3://"]),
    (_with(sha256="ABC"), ["spec.model.sha256", "sha256sum"]),
    (_with(outputs={}), ["spec.model.outputs", "at least one head"]),
    (_with(outputs={"gaze": "g"}), ["spec.model.outputs", "unknown heads ['gaze']"]),
    (_with(input={"shape": [4, 224, 224]}), ["spec.model.input.shape", "1 (grayscale) or 3"]),
    (_with(input={"shape": [224, 224]}), ["spec.model.input.shape", "[channels, height, width]"]),
    (_with(input={"mean": [0.1, 0.2]}), ["spec.model.input.mean", "1 or 3 numbers"]),
    (_with(input={"std": [0.0]}), ["spec.model.input.std", "above 0"]),
    (_with(input={"layout": "CHW"}), ["spec.model.input.layout", "NCHW, NHWC"]),
    (_with(emotionLabels=[]), ["spec.model.emotionLabels", "non-empty"]),
    ({**_with(), "engine": {"batch": {"min": 8, "opt": 4, "max": 16}}},
     ["spec.engine.batch", "min <= opt <= max"]),
    ({**_with(), "engine": {"batch": {"max": 4096}}}, ["spec.engine.batch.max", "1 to 1024"]),
    ({**_with(), "engine": {"precision": "int8"}},
     ["spec.engine.calibration.uri", "use precision fp16"]),
    ({**_with(), "engine": {"timingCache": "yes"}}, ["spec.engine.timingCache", "true or false"]),
    ({**_with(), "validation": {"minEmotionAgreement": 1.5}},
     ["spec.validation.minEmotionAgreement", "0.0 to 1.0"]),
    ({**_with(), "gpu": {"driverMajor": "550"}}, ["spec.gpu.driverMajor", "integer"]),
    ([], ["spec: must be an object"]),
])
def test_bad_fields_are_named_with_the_fix(doc: Any, words: list[str]) -> None:
    with pytest.raises(InvalidSpec) as failure:
        parse_spec(doc)
    for word in words:
        assert word in str(failure.value)
    assert failure.value.permanent is True and failure.value.exit_code == 2


def test_not_json_names_the_source() -> None:
    with pytest.raises(InvalidSpec, match=r"\$CLASSROOM_BUILD_SPEC: not valid JSON"):
        load_spec("{'model': 1}", "$CLASSROOM_BUILD_SPEC")


def test_keys_the_builder_does_not_use_are_ignored() -> None:
    spec = parse_spec({**_with(), "serving": {"targetFps": 30}, "analysis": {}})
    assert spec.model.outputs == {"emotion": "probs"}

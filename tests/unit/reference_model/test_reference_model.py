"""The reference model: seeded bytes, the heads asked for, and an attention a video can steer."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from classroom_inference.builder.preprocess import normalise
from classroom_inference.builder.reference_model import (
    OUTPUT_NAMES,
    reference_model,
    reference_spec,
)
from classroom_inference.builder.samples import synthetic_faces
from classroom_inference.builder.spec import parse_spec
from unit.engine_build.kit import parser

SIZE = 32


def _heads(model: onnx.ModelProto, crops: np.ndarray) -> dict[str, np.ndarray]:
    spec = parse_spec({"model": reference_spec("file:///m", "0" * 64, SIZE,
                                               crops.shape[-1])}).model
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    values = session.run(names, {"input": normalise(crops, spec.input)})
    return dict(zip(names, values, strict=True))


def test_same_arguments_same_bytes() -> None:
    a = reference_model(SIZE).SerializeToString()
    assert a == reference_model(SIZE).SerializeToString()
    assert a != reference_model(SIZE, channels=1).SerializeToString()


def test_float_nchw_input_and_named_heads() -> None:
    model = reference_model(SIZE)
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    assert [d.dim_param or d.dim_value for d in dims] == ["N", 3, SIZE, SIZE]
    assert [o.name for o in model.graph.output] == list(OUTPUT_NAMES.values())
    only = reference_model(SIZE, heads=("emotion",))
    assert [o.name for o in only.graph.output] == ["emotion_probs"]


def test_attention_follows_the_brightness_of_the_face() -> None:
    faces = synthetic_faces(6, (SIZE, SIZE, 3), seed=3)
    bright, dark = faces.copy(), faces.copy()
    centre = slice(SIZE // 4, SIZE - SIZE // 4)
    bright[:, centre, centre] = 235
    dark[:, centre, centre] = 25
    attention = {name: _heads(reference_model(SIZE), crops)["attention_score"]
                 for name, crops in (("bright", bright), ("dark", dark))}
    assert attention["bright"].min() > 0.85 and attention["dark"].max() < 0.15


def test_heads_are_probabilities_and_vary_across_faces() -> None:
    heads = _heads(reference_model(SIZE), synthetic_faces(64, (SIZE, SIZE, 3), seed=8))
    emotion = heads["emotion_probs"]
    np.testing.assert_allclose(emotion.sum(axis=1), 1.0, atol=1e-5)
    assert len(np.unique(emotion.argmax(axis=1))) >= 3  # not one class for every face
    engagement = heads["engagement_score"]
    assert engagement.min() > 0 and engagement.max() < 1 and engagement.std() > 0.05


def test_grayscale_variant_runs() -> None:
    heads = _heads(reference_model(SIZE, channels=1), synthetic_faces(4, (SIZE, SIZE, 1)))
    assert heads["attention_score"].shape == (4, 1)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="channels must be 1 or 3"):
        reference_model(SIZE, channels=4)
    with pytest.raises(ValueError, match="heads must be"):
        reference_model(SIZE, heads=("gaze",))


def test_command_writes_the_model_and_prints_its_spec(tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "models" / "reference.onnx"
    args = parser().parse_args(["reference-model", "--out", str(out), "--size", str(SIZE),
                                "--heads", "attention,emotion"])
    assert args.run(args) == 0
    model = json.loads(capsys.readouterr().out)["model"]
    assert model["uri"] == out.resolve().as_uri()
    assert model["sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert model["input"]["shape"] == [3, SIZE, SIZE]
    assert model["outputs"] == {"attention": "attention_score", "emotion": "emotion_probs"}
    parse_spec({"model": model})  # what it prints is a valid spec

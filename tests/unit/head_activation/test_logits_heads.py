"""Heads that end in logits get the activation the contract's meaning needs, decided once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from classroom_inference.builder.fetch import sha256_file
from classroom_inference.builder.heads import (
    KEPT,
    SIGMOID_ADDED,
    SOFTMAX_ADDED,
    apply_activations,
    decide_activations,
)
from classroom_inference.builder.preprocess import fuse_preprocessing, normalise
from classroom_inference.builder.reference_model import reference_model, reference_spec
from classroom_inference.builder.samples import synthetic_faces
from classroom_inference.builder.spec import parse_spec
from classroom_inference.runners import open_runner
from unit.engine_build.kit import FINGERPRINT, SIZE, build_spec, run_build, write_reference_model


def _without_activation(model: onnx.ModelProto, node_name: str) -> onnx.ModelProto:
    """The model with its final Softmax or Sigmoid `node_name` turned into an Identity: the
    head now returns the logits underneath, as many exported models do."""
    for node in model.graph.node:
        if node.name == node_name:
            node.op_type = "Identity"
            del node.attribute[:]
            return model
    raise AssertionError(f"no node {node_name}")


@pytest.fixture
def logits_model(tmp_path: Path) -> tuple[Path, dict[str, Any]]:
    path, spec = write_reference_model(tmp_path / "m")
    model = onnx.load(str(path))
    _without_activation(model, "emotion")
    _without_activation(model, "attention")
    logits = tmp_path / "m" / "logits.onnx"
    onnx.save(model, str(logits))
    return logits, dict(spec, uri=logits.as_uri(), sha256=sha256_file(logits))


def test_probabilities_and_scores_are_kept_logits_get_an_activation() -> None:
    probabilities = np.array([[0.2, 0.8], [0.5, 0.5]], np.float32)
    logits = np.array([[2.0, -1.0], [0.1, 0.3]], np.float32)
    scores = np.array([[0.0], [0.7]], np.float32)
    score_logits = np.array([[-3.0], [0.4]], np.float32)
    assert decide_activations({"emotion": probabilities, "attention": scores}) == {
        "emotion": KEPT, "attention": KEPT}
    assert decide_activations({"emotion": logits, "engagement": score_logits}) == {
        "emotion": SOFTMAX_ADDED, "engagement": SIGMOID_ADDED}
    # Non-negative rows that do not sum to 1 (ReLU'd scores) are not probabilities either.
    assert decide_activations({"emotion": np.array([[0.5, 2.0]])}) == {"emotion": SOFTMAX_ADDED}
    done = apply_activations({"emotion": logits, "engagement": score_logits},
                             {"emotion": SOFTMAX_ADDED, "engagement": SIGMOID_ADDED})
    assert np.allclose(done["emotion"].sum(axis=1), 1.0)
    assert done["emotion"][0].argmax() == 0
    assert np.allclose(done["engagement"][:, 0], 1 / (1 + np.exp([3.0, -0.4])))


def test_a_logits_model_builds_an_engine_that_outputs_probabilities(
        logits_model: tuple[Path, dict[str, Any]], store: Path, tmp_path: Path) -> None:
    path, model = logits_model
    run = run_build(build_spec(model), store, tmp_path)

    assert run.code == 0, run.summary
    assert run.summary["heads"] == {"attention": "sigmoid-added", "emotion": "softmax-added",
                                    "engagement": "none"}
    meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
    assert meta["heads"]["emotion"] == {"activation": "softmax-added"}
    assert meta["heads"]["attention"] == {"activation": "sigmoid-added"}
    assert run.summary["validation"]["passed"] is True
    assert run.summary["validation"]["attentionMae"] < 0.01

    crops = synthetic_faces(6, (SIZE, SIZE, 3), seed=5)
    with open_runner(store / FINGERPRINT) as runner:
        heads = runner.infer(crops)
    emotion, attention = heads["emotion"], heads["attention"]
    assert emotion.min() >= 0 and np.allclose(emotion.sum(axis=1), 1.0, atol=1e-5)
    assert attention.min() >= 0 and attention.max() <= 1
    # The engine's probabilities are the softmax of the user's own logits.
    spec = parse_spec(build_spec(model)).model
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    logits, attention_logits = session.run(["emotion_probs", "attention_score"],
                                           {"input": normalise(crops, spec.input)})
    assert logits.min() < 0  # the model really returns logits
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    assert np.allclose(emotion, expected, atol=1e-4)
    assert np.allclose(attention[:, 0], 1 / (1 + np.exp(-attention_logits[:, 0])), atol=1e-4)


def test_a_probabilities_model_is_left_as_it_is(model_spec: dict[str, Any], store: Path,
                                                tmp_path: Path) -> None:
    run = run_build(build_spec(model_spec), store, tmp_path)
    assert run.code == 0, run.summary
    assert run.summary["heads"] == dict.fromkeys(("attention", "emotion", "engagement"), "none")
    assert run.summary["warnings"] == []


def test_the_fused_graph_ends_each_logits_head_in_its_activation() -> None:
    spec = parse_spec({"model": reference_spec("file:///m.onnx", "0" * 64, SIZE)}).model
    fused = fuse_preprocessing(reference_model(SIZE), spec, None,
                               {"emotion": SOFTMAX_ADDED, "attention": SIGMOID_ADDED,
                                "engagement": KEPT})
    nodes = {n.name: n for n in fused.graph.node if n.name.startswith("heads/")}
    assert {name: n.op_type for name, n in nodes.items()} == {
        "heads/attention": "Sigmoid", "heads/emotion": "Softmax", "heads/engagement": "Identity"}
    assert [(a.name, a.i) for a in nodes["heads/emotion"].attribute] == [("axis", 1)]
    assert [o.name for o in fused.graph.output] == ["attention", "emotion", "engagement"]

"""The fused graph on uint8 crops equals the original model on crops normalised in numpy."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from classroom_inference.builder.preprocess import ENGINE_INPUT, fuse_preprocessing, normalise
from classroom_inference.builder.spec import parse_spec

SIZE = 8


def _spec(**model_input: Any) -> Any:
    channels = model_input.pop("channels", 3)
    return parse_spec({"model": {
        "uri": "file:///model.onnx", "sha256": "0" * 64, "emotionLabels": list("abcde"),
        "input": {"name": "pixels", "shape": [channels, SIZE, SIZE], **model_input},
        "outputs": {"emotion": "probs", "engagement": "score"}}}).model


def _run(model: onnx.ModelProto, feed: dict[str, np.ndarray]) -> list[np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return [np.asarray(v) for v in session.run(None, feed)]


CASES = [
    pytest.param({}, id="nchw-rgb-imagenet"),
    pytest.param({"layout": "NHWC"}, id="nhwc"),
    pytest.param({"colorOrder": "BGR", "mean": [0.4, 0.5, 0.6], "std": [0.2, 0.3, 0.25]},
                 id="bgr-own-stats"),
    pytest.param({"channels": 1, "mean": [0.5], "std": [0.5]}, id="grayscale-minus1-to-1"),
]


@pytest.mark.parametrize("model_input", CASES)
def test_fused_graph_equals_original_on_normalised_input(
        model_input: dict[str, Any], make_probe: Callable[..., onnx.ModelProto]) -> None:
    spec = _spec(**dict(model_input))
    original = make_probe(spec.input.layout, spec.input.channels)
    crops = np.random.default_rng(0).integers(0, 256, size=(6, SIZE, SIZE, spec.input.channels),
                                              dtype=np.uint8)
    expected = _run(original, {"pixels": normalise(crops, spec.input)})
    fused = fuse_preprocessing(original, spec)
    emotion, engagement = _run(fused, {ENGINE_INPUT: crops})
    np.testing.assert_allclose(emotion, expected[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(engagement, expected[1], rtol=1e-5, atol=1e-6)


def test_color_order_and_layout_are_not_interchangeable(
        make_probe: Callable[..., onnx.ModelProto]) -> None:
    """A BGR model fused as if it were RGB gives different answers: the test above can fail."""
    bgr, rgb = _spec(colorOrder="BGR"), _spec()
    original = make_probe("NCHW", 3)
    crops = np.random.default_rng(1).integers(0, 256, size=(4, SIZE, SIZE, 3), dtype=np.uint8)
    expected = _run(original, {"pixels": normalise(crops, bgr.input)})[0]
    wrong = _run(fuse_preprocessing(original, rgb), {ENGINE_INPUT: crops})[0]
    assert np.abs(wrong - expected).max() > 1e-3


def test_normalise_matches_the_contract_formula() -> None:
    spec = _spec(mean=[0.5, 0.25, 0.0], std=[0.5, 0.25, 1.0])
    crops = np.zeros((1, SIZE, SIZE, 3), dtype=np.uint8)
    crops[0, 2, 5] = [255, 51, 102]
    x = normalise(crops, spec.input)
    assert x.shape == (1, 3, SIZE, SIZE) and x.dtype == np.float32
    np.testing.assert_allclose(x[0, :, 2, 5], [(1.0 - 0.5) / 0.5, (0.2 - 0.25) / 0.25, 0.4],
                               rtol=1e-6)
    np.testing.assert_allclose(x[0, :, 0, 0], [-1.0, -1.0, 0.0])


def test_engine_io_follows_the_contract(make_probe: Callable[..., onnx.ModelProto]) -> None:
    fused = fuse_preprocessing(make_probe("NCHW", 3), _spec())
    (inp,) = fused.graph.input
    assert inp.name == ENGINE_INPUT
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.UINT8
    dims = inp.type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ["N", SIZE, SIZE, 3]
    # Only mapped heads, canonical names and order; the model's "unmapped" output is gone.
    assert [o.name for o in fused.graph.output] == ["emotion", "engagement"]


def test_fixed_batch_stays_fixed(make_probe: Callable[..., onnx.ModelProto]) -> None:
    fused = fuse_preprocessing(make_probe("NCHW", 3, fixed_batch=4), _spec(), fixed_batch=4)
    assert fused.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 4

"""A small probe model per input layout: its outputs change with every pixel, channel and
position, so any slip in the fused preprocessing shows."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

SIZE = 8


def probe_model(layout: str, channels: int, fixed_batch: int | None = None) -> onnx.ModelProto:
    rng = np.random.default_rng(3)
    batch: int | str = fixed_batch or "N"
    shape = [batch, channels, SIZE, SIZE] if layout == "NCHW" else [batch, SIZE, SIZE, channels]
    nodes = []
    x = "pixels"
    if layout == "NHWC":
        nodes.append(helper.make_node("Transpose", [x], ["nchw"], perm=[0, 3, 1, 2]))
        x = "nchw"
    weights = rng.normal(size=(4, channels, 3, 3)).astype(np.float32)
    nodes += [
        helper.make_node("Conv", [x, "w"], ["attention"], pads=[1, 1, 1, 1]),  # a name we use
        helper.make_node("Flatten", ["attention"], ["flat"]),
        helper.make_node("MatMul", ["flat", "proj"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probs"], axis=1),
        helper.make_node("ReduceMean", ["logits"], ["score_logit"], axes=[1], keepdims=1),
        helper.make_node("Sigmoid", ["score_logit"], ["score"]),
        helper.make_node("Identity", ["logits"], ["unmapped"]),
    ]
    proj = rng.normal(scale=0.05, size=(4 * SIZE * SIZE, 5)).astype(np.float32)
    graph = helper.make_graph(
        nodes, "probe", [helper.make_tensor_value_info("pixels", TensorProto.FLOAT, shape)],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [batch, 5]),
         helper.make_tensor_value_info("score", TensorProto.FLOAT, [batch, 1]),
         helper.make_tensor_value_info("unmapped", TensorProto.FLOAT, [batch, 5])],
        [numpy_helper.from_array(weights, "w"), numpy_helper.from_array(proj, "proj")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 7
    return model


@pytest.fixture
def make_probe() -> Callable[..., onnx.ModelProto]:
    return probe_model

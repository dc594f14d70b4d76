"""Preprocessing fused into the engine, so the pod ships uint8 crops and the device does the rest.

The engine takes `crops`: uint8 [N, H, W, C] RGB (or grayscale) as the pod crops them. In the
graph: Cast to float, NHWC -> NCHW when the model is NCHW, channel order (RGB -> BGR when the
model wants it), and one Mul and one Add for ((x / 255) - mean) / std folded per channel. The
model's outputs are renamed to the canonical heads (docs/contracts.md, "Engine store"), through
the Softmax or Sigmoid heads.py decided a logits head needs; unmapped outputs are dropped. The
model's own tensors get a `model/` prefix so no name can collide with ours.

`normalise` is the same preprocessing in numpy, kept separate on purpose: the fp32 reference in
validation uses it, so a mistake in the fused graph shows up as a validation error.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from classroom_inference.builder.heads import ACTIVATION_OPS, KEPT
from classroom_inference.builder.spec import HEADS, InputSpec, ModelSpec

ENGINE_INPUT = "crops"
MODEL_PREFIX = "model/"
PREPROCESS_PREFIX = "preprocess/"
BATCH_SYMBOL = "N"


def _folded_affine(spec: InputSpec) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel scale and bias so that x * scale + bias == ((x / 255) - mean) / std."""
    mean = np.asarray(spec.mean, dtype=np.float64)
    std = np.asarray(spec.std, dtype=np.float64)
    scale = 1.0 / (255.0 * std)
    bias = -mean / std
    return scale.astype(np.float32), bias.astype(np.float32)


def preprocess_nodes(spec: InputSpec, output: str) -> tuple[list[onnx.NodeProto],
                                                             list[onnx.TensorProto]]:
    """Nodes from uint8 NHWC `crops` to the model's normalised float input named `output`.

    For an NCHW model the layout changes right after the cast, before the per-channel Mul and
    Add: broadcasting a [C] vector over the innermost axis of size 3 runs element by element on
    ONNX Runtime's CPU provider (about 3 ms a 224x224 crop, more than a small model itself),
    while [C, 1, 1] over whole H x W planes is a vectorised loop (about 0.4 ms with the
    transpose).
    """
    p = PREPROCESS_PREFIX
    nchw = spec.layout == "NCHW"
    scale, bias = _folded_affine(spec)
    per_channel = (-1, 1, 1) if nchw else (-1,)
    inits = [numpy_helper.from_array(scale.reshape(per_channel), p + "scale"),
             numpy_helper.from_array(bias.reshape(per_channel), p + "bias")]
    nodes = [helper.make_node("Cast", [ENGINE_INPUT], [p + "float"], name=p + "cast",
                              to=TensorProto.FLOAT)]
    current = p + "float"
    if nchw:
        nodes.append(helper.make_node("Transpose", [current], [p + "planar"], name=p + "to_nchw",
                                      perm=[0, 3, 1, 2]))
        current = p + "planar"
    if spec.color_order == "BGR" and spec.channels == 3:
        inits.append(numpy_helper.from_array(np.array([2, 1, 0], dtype=np.int64), p + "bgr"))
        nodes.append(helper.make_node("Gather", [current, p + "bgr"], [p + "swapped"],
                                      name=p + "to_bgr", axis=1 if nchw else 3))
        current = p + "swapped"
    nodes.append(helper.make_node("Mul", [current, p + "scale"], [p + "scaled"],
                                  name=p + "scale"))
    nodes.append(helper.make_node("Add", [p + "scaled", p + "bias"], [output], name=p + "shift"))
    return nodes, inits


def fuse_preprocessing(model: onnx.ModelProto, spec: ModelSpec, fixed_batch: int | None = None,
                       activations: Mapping[str, str] | None = None) -> onnx.ModelProto:
    """The model behind a uint8 NHWC `crops` input, with outputs named by canonical head.

    `activations` (heads.decide_activations) names the heads that are logits: their output goes
    through the Softmax (over the class axis) or Sigmoid the contract's meaning needs.
    """
    activations = activations or {}
    fused = onnx.compose.add_prefix(model, MODEL_PREFIX)
    graph = fused.graph
    model_input = MODEL_PREFIX + spec.input.name
    kept_inputs = [i for i in graph.input if i.name != model_input]
    del graph.input[:]
    batch: int | str = fixed_batch if fixed_batch is not None else BATCH_SYMBOL
    graph.input.append(helper.make_tensor_value_info(
        ENGINE_INPUT, TensorProto.UINT8,
        [batch, spec.input.height, spec.input.width, spec.input.channels]))
    # Older IRs list initializers among the inputs; they stay.
    graph.input.extend(kept_inputs)

    nodes, inits = preprocess_nodes(spec.input, model_input)
    body = list(graph.node)
    # Exporters often leave names empty; precision passes key their casts and Q/DQ on node names.
    for number, node in enumerate(body):
        if not node.name:
            node.name = f"{MODEL_PREFIX}node{number}"
    del graph.node[:]
    graph.node.extend(nodes + body)
    graph.initializer.extend(inits)

    originals = {o.name: o for o in graph.output}
    del graph.output[:]
    for head in HEADS:
        if head not in spec.outputs:
            continue
        source = originals[MODEL_PREFIX + spec.outputs[head]]
        op = ACTIVATION_OPS.get(activations.get(head, KEPT), "Identity")
        node = helper.make_node(op, [source.name], [head], name=f"heads/{head}")
        if op == "Softmax":
            node.attribute.append(helper.make_attribute("axis", 1))
        graph.node.append(node)
        renamed = onnx.ValueInfoProto()
        renamed.CopyFrom(source)
        renamed.name = head
        graph.output.append(renamed)
    onnx.checker.check_model(fused)
    return fused


def normalise(crops: np.ndarray, spec: InputSpec) -> np.ndarray:
    """uint8 [N, H, W, C] crops -> the float batch the original model expects, in numpy."""
    x: np.ndarray = crops.astype(np.float32) / np.float32(255.0)
    if spec.color_order == "BGR" and spec.channels == 3:
        x = x[..., ::-1]
    x = (x - np.asarray(spec.mean, dtype=np.float32)) / np.asarray(spec.std, dtype=np.float32)
    if spec.layout == "NCHW":
        x = x.transpose(0, 3, 1, 2)
    return np.ascontiguousarray(x, dtype=np.float32)

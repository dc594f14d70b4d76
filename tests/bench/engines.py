"""A tiny engine for tests and benchmarks, written with onnx.helper in the store layout.

Its attention follows the crop's mean brightness (bright -> focused, dark -> distracted), so a
test video can steer the analysis; emotion and engagement are small functions of channel means.
`cost` adds a 1x1 convolution stack so the CPU has real work per crop.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

EMOTIONS = ["neutral", "happy", "sad", "surprised"]


def tiny_model(height: int = 64, width: int = 64, channels: int = 3,
               cost: int = 0) -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    inits = [
        numpy_helper.from_array(np.array([0, 3, 1, 2], dtype=np.int64), "perm_unused"),
        numpy_helper.from_array(np.array([1, 2], dtype=np.int64), "hw_axes"),
        numpy_helper.from_array(np.array([1.0 / 255.0], dtype=np.float32), "scale"),
        numpy_helper.from_array(np.array([0.5], dtype=np.float32), "half"),
        numpy_helper.from_array(np.array([12.0], dtype=np.float32), "gain"),
        numpy_helper.from_array(np.array([-1, 1], dtype=np.int64), "col"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "c_axis"),
        numpy_helper.from_array(
            rng.normal(size=(channels, len(EMOTIONS))).astype(np.float32), "w_emotion"
        ),
        numpy_helper.from_array(rng.normal(size=(channels, 1)).astype(np.float32), "w_engage"),
    ]
    nodes = [
        helper.make_node("Cast", ["crops"], ["x"], to=TensorProto.FLOAT),
        helper.make_node("Mul", ["x", "scale"], ["xs"]),
    ]
    feat = "xs"
    if cost:
        nodes.append(helper.make_node("Transpose", ["xs"], ["nchw"], perm=[0, 3, 1, 2]))
        prev, width_c = "nchw", channels
        for i in range(cost):
            w = rng.normal(scale=0.1, size=(16, width_c, 3, 3)).astype(np.float32)
            inits.append(numpy_helper.from_array(w, f"conv{i}"))
            nodes.append(
                helper.make_node("Conv", [prev, f"conv{i}"], [f"c{i}"], pads=[1, 1, 1, 1])
            )
            nodes.append(helper.make_node("Relu", [f"c{i}"], [f"r{i}"]))
            prev, width_c = f"r{i}", 16
        # The model's answer stays the brightness signal; the convolutions only add cost.
        nodes.append(helper.make_node("ReduceMean", [prev], ["conv_mean"], keepdims=0))
        nodes.append(helper.make_node("Mul", ["conv_mean", "half"], ["conv_zero_ish"]))
        nodes.append(helper.make_node("Sub", ["conv_zero_ish", "conv_zero_ish"], ["zero"]))
    nodes += [
        helper.make_node("ReduceMean", [feat, "hw_axes"], ["chan"], keepdims=0),  # [N, C]
        helper.make_node("ReduceMean", ["chan", "c_axis"], ["bright"], keepdims=1),  # [N, 1]
        helper.make_node("Sub", ["bright", "half"], ["centred"]),
        helper.make_node("Mul", ["centred", "gain"], ["logit"]),
    ]
    if cost:
        nodes.append(helper.make_node("Unsqueeze", ["zero", "col_axis"], ["zero_col"]))
        inits.append(numpy_helper.from_array(np.array([1], dtype=np.int64), "col_axis"))
        nodes.append(helper.make_node("Add", ["logit", "zero_col"], ["logit2"]))
        logit = "logit2"
    else:
        logit = "logit"
    nodes += [
        helper.make_node("Sigmoid", [logit], ["attention"]),
        helper.make_node("MatMul", ["chan", "w_emotion"], ["emotion_logits"]),
        helper.make_node("Softmax", ["emotion_logits"], ["emotion"], axis=1),
        helper.make_node("MatMul", ["chan", "w_engage"], ["engage_logit"]),
        helper.make_node("Sigmoid", ["engage_logit"], ["engagement"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-classroom",
        [helper.make_tensor_value_info("crops", TensorProto.UINT8, ["N", height, width, channels])],
        [
            helper.make_tensor_value_info("attention", TensorProto.FLOAT, ["N", 1]),
            helper.make_tensor_value_info("emotion", TensorProto.FLOAT, ["N", len(EMOTIONS)]),
            helper.make_tensor_value_info("engagement", TensorProto.FLOAT, ["N", 1]),
        ],
        [i for i in inits if i.name != "perm_unused"],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def write_engine(
    store: Path,
    fingerprint: str = "00000000000000aa",
    *,
    height: int = 64,
    width: int = 64,
    channels: int = 3,
    batch: tuple[int, int, int] = (1, 32, 128),
    cost: int = 0,
    heads: tuple[str, ...] = ("attention", "emotion", "engagement"),
) -> Path:
    """`<store>/<fingerprint>/engine.onnx + meta.json` as the builder would leave them."""
    folder = store / fingerprint
    folder.mkdir(parents=True, exist_ok=True)
    data = tiny_model(height, width, channels, cost).SerializeToString()
    (folder / "engine.onnx").write_bytes(data)
    meta = {
        "schemaVersion": 1,
        "fingerprint": fingerprint,
        "backend": "onnxruntime-cpu",
        "engineFile": "engine.onnx",
        "engineSha256": hashlib.sha256(data).hexdigest(),
        "sizeBytes": len(data),
        "precision": "fp32",
        "input": {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                  "height": height, "width": width, "channels": channels},
        "batch": {"min": batch[0], "opt": batch[1], "max": batch[2]},
        "outputs": {h: h for h in heads},
        "emotionLabels": EMOTIONS,
        "model": {"uri": "test://tiny", "sha256": hashlib.sha256(data).hexdigest()},
        "versions": {"classroomInference": "0.1.0", "onnx": onnx.__version__,
                     "onnxruntime": None, "tensorrt": None},
        "gpu": {"gpuClass": "cpu", "product": None, "computeCapability": None,
                "driverMajor": None},
        "builtAt": "2026-11-25T11:00:00Z", "buildSeconds": 0.1,
        "throughput": {}, "latencyMs": {},
    }
    (folder / "meta.json").write_text(json.dumps(meta, indent=2))
    return folder

"""The reference model: a small multi-head classroom model written with onnx.helper, no PyTorch.

It stands in for a user's model in tests, benchmarks and the local default, and behaves like one:
float NCHW input normalised with the ImageNet mean/std (so the builder's fused preprocessing is
exercised), a compact CNN backbone (a 4x4 stride-4 "patchify" stem, as ConvNeXt-style models
start, then strided 3x3 convolutions, ReLU, global average pooling, a per-crop feature
normalisation), and three heads:

  attention_score   [N, 1] sigmoid   follows the brightness of the crop's centre (the face):
                                     a well-lit face reads attentive (~0.9), a dark one
                                     distracted (~0.1); the backbone only nudges it. A test
                                     video steers attention by brightening or darkening the face.
  emotion_probs     [N, 7] softmax   over DEFAULT_EMOTIONS, from the backbone features.
  engagement_score  [N, 1] sigmoid   from the backbone features.

Weights come from a fixed seed, so the same arguments always give the same bytes (and sha256).
"""

from __future__ import annotations

import numpy as np
import onnx
from numpy.lib.stride_tricks import sliding_window_view
from onnx import TensorProto, helper, numpy_helper

from classroom_inference.builder.samples import synthetic_faces
from classroom_inference.builder.spec import DEFAULT_EMOTIONS, HEADS, IMAGENET_MEAN, IMAGENET_STD

INPUT_NAME = "input"
OUTPUT_NAMES = {"attention": "attention_score", "emotion": "emotion_probs",
                "engagement": "engagement_score"}
OPSET = 17
SEED = 20261125
WIDTHS = (16, 32, 64, 96)
# (kernel, stride) per convolution: the stem takes 4x4 patches, so a 224x224 crop costs about
# 12 M multiply-adds and the CPU backend keeps up with tens of streams on a laptop.
KERNELS = ((4, 4), (3, 2), (3, 2), (3, 2))
# attention = sigmoid(GAIN * (centre brightness - PIVOT) + backbone nudge)
ATTENTION_GAIN = 10.0
ATTENTION_PIVOT = 0.45
STATISTICS_CROPS = 48


def _stats(channels: int) -> tuple[np.ndarray, np.ndarray]:
    if channels == 3:
        return np.array(IMAGENET_MEAN, np.float32), np.array(IMAGENET_STD, np.float32)
    return (np.array([sum(IMAGENET_MEAN) / 3], np.float32),
            np.array([sum(IMAGENET_STD) / 3], np.float32))


def _backbone_weights(rng: np.random.Generator,
                      channels: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """He-initialised convolutions shaped by WIDTHS and KERNELS."""
    convs, width = [], channels
    for out, (kernel, _) in zip(WIDTHS, KERNELS, strict=True):
        w = rng.normal(0, np.sqrt(2.0 / (kernel * kernel * width)),
                       size=(out, width, kernel, kernel))
        convs.append((w.astype(np.float32), rng.normal(0, 0.05, size=out).astype(np.float32)))
        width = out
    return convs


def _padding(kernel: int, stride: int) -> int:
    """Patches (kernel == stride) tile the crop unpadded; 3x3 convolutions pad by one."""
    return 0 if kernel == stride else kernel // 2


def _feature_statistics(convs: list[tuple[np.ndarray, np.ndarray]], size: int,
                        channels: int) -> tuple[np.ndarray, np.ndarray]:
    """Mean and spread of the normalised features over seeded face-like crops.

    Computed in float64 numpy and rounded, so the model's bytes do not depend on the CPU's
    floating-point paths.
    """
    mean, std = _stats(channels)
    crops = synthetic_faces(STATISTICS_CROPS, (size, size, channels), seed=SEED)
    x = ((crops / 255.0 - mean) / std).transpose(0, 3, 1, 2)
    for (w, b), (kernel, stride) in zip(convs, KERNELS, strict=True):
        pad = _padding(kernel, stride)
        padded = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
        windows = sliding_window_view(padded, (kernel, kernel),
                                      axis=(2, 3))[:, :, ::stride, ::stride]
        x = np.maximum(np.einsum("nchwij,ocij->nohw", windows, w.astype(np.float64),
                                 optimize=True) + b[None, :, None, None], 0.0)
    features = x.mean(axis=(2, 3))
    features = features - features.mean(axis=1, keepdims=True)
    features = features / np.sqrt((features**2).mean(axis=1, keepdims=True) + 1e-5)
    centre = np.round(features.mean(axis=0), 3)
    spread = np.maximum(np.round(features.std(axis=0), 3), 0.05)
    return centre.astype(np.float32), spread.astype(np.float32)


def reference_model(size: int = 224, channels: int = 3,
                    heads: tuple[str, ...] = HEADS) -> onnx.ModelProto:
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if size < 16:
        raise ValueError(f"size must be at least 16, got {size}")
    if not heads or set(heads) - set(HEADS):
        raise ValueError(f"heads must be a non-empty subset of {', '.join(HEADS)}, got {heads}")
    rng = np.random.default_rng(SEED)
    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(value, name))
        return name

    convs = _backbone_weights(rng, channels)
    prev = INPUT_NAME
    for i, ((w, b), (kernel, stride)) in enumerate(zip(convs, KERNELS, strict=True)):
        pad = _padding(kernel, stride)
        nodes.append(helper.make_node("Conv", [prev, const(f"conv{i}.w", w),
                                               const(f"conv{i}.b", b)],
                                      [f"conv{i}"], name=f"conv{i}",
                                      kernel_shape=[kernel, kernel], strides=[stride, stride],
                                      pads=[pad] * 4))
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        prev = f"relu{i}"
    centre, spread = _feature_statistics(convs, size, channels)
    width = WIDTHS[-1]
    nodes += [
        helper.make_node("GlobalAveragePool", [prev], ["pooled"], name="pool"),
        helper.make_node("Flatten", ["pooled"], ["raw_features"], name="flatten"),
        # Per-crop normalisation (scale-free features), then standardising with statistics of
        # face-like crops, so the heads see how a crop differs from a typical face.
        helper.make_node("ReduceMean", ["raw_features"], ["feature_mean"], name="feature_mean",
                         axes=[1], keepdims=1),
        helper.make_node("Sub", ["raw_features", "feature_mean"], ["centred"], name="centre"),
        helper.make_node("Mul", ["centred", "centred"], ["squared"], name="square"),
        helper.make_node("ReduceMean", ["squared"], ["variance"], name="variance",
                         axes=[1], keepdims=1),
        helper.make_node("Add", ["variance", const("epsilon", np.array([1e-5], np.float32))],
                         ["variance_eps"], name="variance_eps"),
        helper.make_node("Sqrt", ["variance_eps"], ["deviation"], name="deviation"),
        helper.make_node("Div", ["centred", "deviation"], ["normalised"], name="normalised"),
        helper.make_node("Sub", ["normalised", const("features.centre", centre)],
                         ["offset"], name="offset"),
        helper.make_node("Div", ["offset", const("features.spread", spread)], ["features"],
                         name="features"),
    ]
    outputs = []

    def linear(name: str, out: int, scale: float) -> str:
        w = rng.normal(0, scale / np.sqrt(width), size=(width, out)).astype(np.float32)
        b = rng.normal(0, 0.1, size=out).astype(np.float32)
        nodes.append(helper.make_node("Gemm", ["features", const(f"{name}.w", w),
                                               const(f"{name}.b", b)], [name], name=name))
        return name

    if "attention" in heads:
        mean, std = _stats(channels)
        lo, hi = size // 4, size - size // 4
        nodes += [
            helper.make_node("Slice", [INPUT_NAME, const("centre.starts", np.array([lo, lo])),
                                       const("centre.ends", np.array([hi, hi])),
                                       const("centre.axes", np.array([2, 3]))],
                             ["face"], name="face"),
            helper.make_node("ReduceMean", ["face"], ["face_channels"], name="face_channels",
                             axes=[2, 3], keepdims=0),
            helper.make_node("Mul", ["face_channels", const("face.std", std)], ["face_scaled"],
                             name="face_scaled"),
            helper.make_node("Add", ["face_scaled", const("face.mean", mean)], ["face_rgb"],
                             name="face_rgb"),
            helper.make_node("ReduceMean", ["face_rgb"], ["brightness"], name="brightness",
                             axes=[1], keepdims=1),
            helper.make_node("Sub", ["brightness", const("attention.pivot",
                                                         np.array([ATTENTION_PIVOT], np.float32))],
                             ["brightness_centred"], name="brightness_centred"),
            helper.make_node("Mul", ["brightness_centred", const(
                "attention.gain", np.array([ATTENTION_GAIN], np.float32))],
                             ["brightness_logit"], name="brightness_logit"),
        ]
        nudge = linear("attention.nudge", 1, 0.3)
        nodes += [
            helper.make_node("Add", ["brightness_logit", nudge], ["attention_logit"],
                             name="attention_logit"),
            helper.make_node("Sigmoid", ["attention_logit"], [OUTPUT_NAMES["attention"]],
                             name="attention"),
        ]
        outputs.append(helper.make_tensor_value_info(OUTPUT_NAMES["attention"],
                                                     TensorProto.FLOAT, ["N", 1]))
    if "emotion" in heads:
        logits = linear("emotion.logits", len(DEFAULT_EMOTIONS), 1.5)
        nodes.append(helper.make_node("Softmax", [logits], [OUTPUT_NAMES["emotion"]],
                                      name="emotion", axis=1))
        outputs.append(helper.make_tensor_value_info(
            OUTPUT_NAMES["emotion"], TensorProto.FLOAT, ["N", len(DEFAULT_EMOTIONS)]))
    if "engagement" in heads:
        logit = linear("engagement.logit", 1, 1.0)
        nodes.append(helper.make_node("Sigmoid", [logit], [OUTPUT_NAMES["engagement"]],
                                      name="engagement"))
        outputs.append(helper.make_tensor_value_info(OUTPUT_NAMES["engagement"],
                                                     TensorProto.FLOAT, ["N", 1]))

    graph = helper.make_graph(
        nodes, "classroom-reference",
        [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT,
                                       ["N", channels, size, size])],
        outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="classroom-inference reference-model")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def reference_spec(uri: str, sha256: str, size: int = 224, channels: int = 3,
                   heads: tuple[str, ...] = HEADS) -> dict[str, object]:
    """The `model` part of a ClassroomModel spec that describes this reference model."""
    mean, std = _stats(channels)
    return {
        "uri": uri,
        "sha256": sha256,
        "input": {"name": INPUT_NAME, "shape": [channels, size, size], "layout": "NCHW",
                  "colorOrder": "RGB", "mean": [round(float(v), 6) for v in mean],
                  "std": [round(float(v), 6) for v in std]},
        "outputs": {h: OUTPUT_NAMES[h] for h in HEADS if h in heads},
        "emotionLabels": list(DEFAULT_EMOTIONS),
    }

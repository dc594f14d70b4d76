"""fp16 and int8 are decided in the ONNX graph: what stays fp32, where Q/DQ goes, how close."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from classroom_inference.builder.errors import CalibrationFailed
from classroom_inference.builder.precision import FP16_SENSITIVE_OPS, apply_precision
from classroom_inference.builder.preprocess import ENGINE_INPUT
from onnx import TensorProto, numpy_helper


def _run(model: onnx.ModelProto, crops: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, {ENGINE_INPUT: crops}), strict=True))


def _elem_types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    graph = inferred.graph
    types = {v.name: v.type.tensor_type.elem_type
             for v in [*graph.value_info, *graph.input, *graph.output]}
    types.update({i.name: i.data_type for i in graph.initializer})
    return types


def test_fp32_is_the_graph_itself(fused: onnx.ModelProto, tmp_path: Path) -> None:
    assert apply_precision(fused, "fp32", work=tmp_path) is fused


def test_fp16_keeps_io_and_sensitive_ops_in_fp32(fused: onnx.ModelProto, tmp_path: Path) -> None:
    half = apply_precision(fused, "fp16", work=tmp_path)
    types = _elem_types(half)
    assert half.graph.input[0].type.tensor_type.elem_type == TensorProto.UINT8
    assert {o.type.tensor_type.elem_type for o in half.graph.output} == {TensorProto.FLOAT}
    convs = [n for n in half.graph.node if n.op_type == "Conv"]
    assert convs and all(types[n.input[1]] == TensorProto.FLOAT16 for n in convs)
    sensitive = [n for n in half.graph.node if n.op_type in FP16_SENSITIVE_OPS]
    assert {n.op_type for n in sensitive} >= {"Softmax", "ReduceMean", "Sqrt", "Div"}
    for node in sensitive:
        assert types[node.input[0]] == TensorProto.FLOAT, node.name
    ours = {"preprocess/cast", "preprocess/scale", "preprocess/shift", "preprocess/to_nchw"}
    preprocessing = [n for n in half.graph.node if n.name in ours]
    assert len(preprocessing) == 4
    assert all(types[n.output[0]] == TensorProto.FLOAT for n in preprocessing)


def test_fp16_stays_close_to_fp32(fused: onnx.ModelProto, crops: np.ndarray,
                                  tmp_path: Path) -> None:
    full = _run(fused, crops)
    half = _run(apply_precision(fused, "fp16", work=tmp_path), crops)
    assert np.abs(half["attention"] - full["attention"]).mean() < 2e-3
    assert np.abs(half["engagement"] - full["engagement"]).mean() < 2e-3
    assert (half["emotion"].argmax(1) == full["emotion"].argmax(1)).mean() >= 0.95
    assert not np.array_equal(half["emotion"], full["emotion"])  # it did change precision


def test_int8_is_symmetric_explicit_qdq(fused: onnx.ModelProto, crops: np.ndarray,
                                        tmp_path: Path) -> None:
    quantized = apply_precision(fused, "int8", work=tmp_path, calibration=lambda: crops)
    nodes = {n.name: n for n in quantized.graph.node}
    qdq = [n for n in quantized.graph.node if n.op_type in ("QuantizeLinear",
                                                            "DequantizeLinear")]
    assert qdq, "no Q/DQ nodes"
    inits = {i.name: numpy_helper.to_array(i) for i in quantized.graph.initializer}
    for node in qdq:
        zero_point = inits[node.input[2]]
        assert zero_point.dtype == np.int8 and not zero_point.any(), node.name
    # Biases stay float: TensorRT dequantizes int8, not int32.
    conv_biases = [n.input[2] for n in quantized.graph.node if n.op_type == "Conv"]
    assert conv_biases and all(inits[b].dtype == np.float32 for b in conv_biases)
    # Weights per output channel: one scale per filter.
    weight_dq = [n for n in qdq if n.op_type == "DequantizeLinear" and n.input[0] in inits
                 and inits[n.input[0]].ndim == 4]
    assert weight_dq and all(inits[n.input[1]].shape == (inits[n.input[0]].shape[0],)
                             for n in weight_dq)
    # Preprocessing and each head's last layer stay float.
    assert not any(i.startswith("preprocess/") and "QuantizeLinear" in i for i in nodes)
    head_gemms = [n for n in quantized.graph.node if n.op_type == "Gemm"]
    assert head_gemms and all(inits.get(n.input[1]) is not None
                              and inits[n.input[1]].dtype == np.float32 for n in head_gemms)


def test_int8_stays_close_to_fp32(fused: onnx.ModelProto, crops: np.ndarray,
                                  tmp_path: Path) -> None:
    full = _run(fused, crops)
    quantized = _run(apply_precision(fused, "int8", work=tmp_path, calibration=lambda: crops),
                     crops)
    attention_error = np.abs(quantized["attention"] - full["attention"]).mean()
    assert 0 < attention_error < 0.02
    assert np.abs(quantized["engagement"] - full["engagement"]).mean() < 0.06
    assert (quantized["emotion"].argmax(1) == full["emotion"].argmax(1)).mean() >= 0.75


def test_int8_calibration_fills_a_fixed_batch(fused: onnx.ModelProto, crops: np.ndarray,
                                              tmp_path: Path) -> None:
    model = onnx.ModelProto()
    model.CopyFrom(fused)
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    quantized = apply_precision(model, "int8", work=tmp_path, calibration=lambda: crops[:3],
                                fixed_batch=4)
    assert any(n.op_type == "QuantizeLinear" for n in quantized.graph.node)


def test_int8_without_calibration_crops(fused: onnx.ModelProto, tmp_path: Path) -> None:
    empty = np.zeros((0, 32, 32, 3), dtype=np.uint8)
    with pytest.raises(CalibrationFailed, match=r"spec\.engine\.calibration\.uri"):
        apply_precision(fused, "int8", work=tmp_path, calibration=lambda: empty)
    with pytest.raises(CalibrationFailed, match="needs calibration images"):
        apply_precision(fused, "int8", work=tmp_path)


def test_fp16_builds_models_whose_nodes_have_no_names(tmp_path: Path) -> None:
    # Exporters often leave node names empty; the fp16 converter then invents clashing cast names.
    from classroom_inference.builder.preprocess import fuse_preprocessing
    from classroom_inference.builder.reference_model import reference_model, reference_spec
    from classroom_inference.builder.samples import synthetic_faces
    from classroom_inference.builder.spec import parse_spec

    model = reference_model(32)
    for node in model.graph.node:
        node.name = ""
    spec = parse_spec({"model": reference_spec("file:///m.onnx", "0" * 64, 32)}).model
    fused = fuse_preprocessing(model, spec)
    assert all(node.name for node in fused.graph.node)
    assert len({node.name for node in fused.graph.node}) == len(fused.graph.node)
    crops = synthetic_faces(8, (32, 32, 3), seed=3)
    half = _run(apply_precision(fused, "fp16", work=tmp_path), crops)
    assert np.abs(half["attention"] - _run(fused, crops)["attention"]).mean() < 2e-3

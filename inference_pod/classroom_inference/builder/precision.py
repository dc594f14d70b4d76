"""Precision decided in the ONNX graph, as TensorRT 11's strongly typed networks need it.

fp32: the graph as it is.
fp16: onnxconverter-common's mixed-precision conversion. Inputs and outputs keep their types, the
      fused preprocessing stays fp32 (exact uint8 -> normalised float), and numerically sensitive
      operators (exponentials, reductions, normalisations, divisions) stay fp32 with casts around
      them.
int8: explicit Q/DQ from ONNX Runtime's post-training static quantization over calibration crops:
      symmetric int8 activations and per-channel int8 weights (what TensorRT's explicit
      quantization takes), on Conv/Gemm/MatMul only; preprocessing and each head's last layer
      stay in float.

NVIDIA ModelOpt's ONNX tools were tried first: they pull PyTorch, CUDA 13 libraries, CuPy and
onnxruntime-gpu 1.24 (replacing onnxruntime and pinning onnx 1.21), several GB for what these two
maintained tools do on the CPU in a few MB.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx

from classroom_inference.builder.errors import CalibrationFailed, EngineBuildFailed
from classroom_inference.builder.preprocess import ENGINE_INPUT, PREPROCESS_PREFIX

# Kept in fp32 on top of onnxconverter-common's own list: their fp16 range or rounding hurts.
FP16_SENSITIVE_OPS = (
    "Softmax", "LogSoftmax", "Exp", "Log", "Pow", "Sqrt", "Reciprocal", "Div",
    "ReduceMean", "ReduceSum", "ReduceSumSquare", "ReduceL2", "ReduceLogSumExp",
    "LayerNormalization", "InstanceNormalization", "GroupNormalization", "Erf",
)
INT8_OPS = ("Conv", "Gemm", "MatMul")


@contextmanager
def _quiet_root_logger() -> Iterator[None]:
    """ONNX Runtime's quantizer warns on the root logger about a pre-processing step that only
    matters for models without shape information; the build log stays about the build."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        yield
    finally:
        logging.disable(previous)


def _preprocessing_nodes(model: onnx.ModelProto) -> list[str]:
    return [n.name for n in model.graph.node if n.name.startswith(PREPROCESS_PREFIX)]


def to_fp16(model: onnx.ModelProto) -> onnx.ModelProto:
    from onnxconverter_common import float16

    try:
        converted: onnx.ModelProto = float16.convert_float_to_float16(
            model,
            keep_io_types=True,
            op_block_list=list(float16.DEFAULT_OP_BLOCK_LIST) + list(FP16_SENSITIVE_OPS),
            node_block_list=_preprocessing_nodes(model),
        )
    except Exception as exc:  # the converter raises bare Exceptions and ValueErrors
        raise EngineBuildFailed(f"fp16 conversion failed: {exc}; try precision fp32",
                                permanent=True) from exc
    return converted


def _head_layers(model: onnx.ModelProto) -> list[str]:
    """The last Conv/Gemm/MatMul before each output: kept in float, as is usual for int8 PTQ,
    because a head's few outputs carry all its error and cost little to compute."""
    producers = {out: node for node in model.graph.node for out in node.output}
    found: list[str] = []
    pending = [o.name for o in model.graph.output]
    seen: set[str] = set()
    while pending:
        node = producers.get(pending.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        if node.op_type in INT8_OPS:
            found.append(node.name)
        else:
            pending.extend(node.input)
    return found


class _CropReader:
    """ONNX Runtime's CalibrationDataReader protocol over uint8 crops, in fixed-size batches."""

    def __init__(self, crops: np.ndarray, batch: int) -> None:
        self._batches = [crops[i:i + batch] for i in range(0, len(crops), batch)]
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        if self._next == len(self._batches):
            return None
        self._next += 1
        return {ENGINE_INPUT: self._batches[self._next - 1]}

    def rewind(self) -> None:
        self._next = 0


def to_int8(model: onnx.ModelProto, crops: np.ndarray, work: Path,
            fixed_batch: int | None = None) -> onnx.ModelProto:
    """Q/DQ int8 from calibration crops (uint8 [n, H, W, C], what the engine input takes)."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if crops.ndim != 4 or crops.dtype != np.uint8 or len(crops) == 0:
        raise CalibrationFailed("spec.engine.calibration.uri: no usable calibration crops; give "
                                "a folder or archive of face crops")
    if fixed_batch is not None:
        # A fixed-batch model takes only whole batches: repeat a small set, drop the remainder.
        crops = np.concatenate([crops] * -(-fixed_batch // len(crops)))
        crops = crops[: len(crops) - len(crops) % fixed_batch]
    work.mkdir(parents=True, exist_ok=True)
    source, target = work / "int8-input.onnx", work / "int8.onnx"
    onnx.save(model, str(source))
    excluded = _preprocessing_nodes(model) + _head_layers(model)
    try:
        with _quiet_root_logger():
            quantize_static(
                str(source), str(target), _CropReader(crops, fixed_batch or 32),
                quant_format=QuantFormat.QDQ,
                op_types_to_quantize=list(INT8_OPS),
                per_channel=True,
                activation_type=QuantType.QInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=excluded,
                calibrate_method=CalibrationMethod.MinMax,
                extra_options={"ActivationSymmetric": True, "WeightSymmetric": True,
                               # TensorRT dequantizes int8 only; biases stay float.
                               "QuantizeBias": False},
            )
    except Exception as exc:  # ORT's quantizer raises whatever its graph walk hits
        raise EngineBuildFailed(f"int8 quantization failed: {exc}; try precision fp16",
                                permanent=True) from exc
    return onnx.load(str(target))


def apply_precision(model: onnx.ModelProto, precision: str, *, work: Path,
                    calibration: Callable[[], np.ndarray] | None = None,
                    fixed_batch: int | None = None) -> onnx.ModelProto:
    """The graph at `precision`. `calibration` loads the crops, only when int8 needs them."""
    if precision == "fp32":
        return model
    if precision == "fp16":
        return to_fp16(model)
    if precision == "int8":
        if calibration is None:
            raise CalibrationFailed("spec.engine.calibration.uri: int8 needs calibration images")
        return to_int8(model, calibration(), work, fixed_batch)
    raise ValueError(f"unknown precision {precision!r}")

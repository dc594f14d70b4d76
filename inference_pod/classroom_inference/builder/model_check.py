"""Loading the user's ONNX and checking it against the spec before any work is spent on it.

Checks: it parses as ONNX, its opset is one the builder and ONNX Runtime handle, every operator is
a standard one, it has exactly one image input whose shape agrees with spec.model.input and the
batch profile, and every mapped head is an output of the right shape.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

import onnx
from google.protobuf.message import DecodeError
from onnx import external_data_helper

from classroom_inference.builder.errors import InvalidModel, InvalidSpec, UnsupportedOperator
from classroom_inference.builder.spec import BatchSpec, ModelSpec

MIN_OPSET = 7  # broadcasting Mul/Add, which the fused preprocessing relies on
_STANDARD_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class CheckedModel:
    model: onnx.ModelProto
    opset: int
    input_name: str
    fixed_batch: int | None  # the model's batch dimension when it is not dynamic


def _dims(value_info: onnx.ValueInfoProto) -> list[int | None]:
    """Static size of each dimension, None where dynamic."""
    shape = value_info.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else None for d in shape.dim]


def load_model(path: Path) -> onnx.ModelProto:
    try:
        model = onnx.load(str(path), load_external_data=False)
    except (DecodeError, RuntimeError, ValueError) as exc:
        raise InvalidModel(
            f"spec.model.uri: the file is not an ONNX model (truncated or another format: "
            f"{type(exc).__name__}); export the model to ONNX and update uri and sha256"
        ) from None
    _no_external_data(model)
    if not model.graph.node or not model.opset_import:
        raise InvalidModel("spec.model.uri: the file parses but holds no ONNX graph; export "
                           "the model to ONNX and update uri and sha256")
    return model


def _tensors(graph: onnx.GraphProto) -> Iterator[onnx.TensorProto]:
    """Initializers and constant tensors of the graph and of every subgraph."""
    yield from graph.initializer
    for node in graph.node:
        for attribute in node.attribute:
            if attribute.HasField("t"):
                yield attribute.t
            yield from attribute.tensors
            if attribute.HasField("g"):
                yield from _tensors(attribute.g)
            for subgraph in attribute.graphs:
                yield from _tensors(subgraph)


def _no_external_data(model: onnx.ModelProto) -> None:
    """The builder fetches one file: weights kept in other files are never there, and a
    location outside the model's folder ("../", an absolute path) would read the builder's own
    files into the engine."""
    for tensor in _tensors(model.graph):
        if not external_data_helper.uses_external_data(tensor):
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        parts = PurePosixPath(location.replace("\\", "/")).parts
        outside = location.startswith(("/", "\\")) or PureWindowsPath(location).drive \
            or ".." in parts
        where = ("points outside the model's folder" if outside
                 else "is in a separate file, which the builder does not fetch")
        raise InvalidModel(
            f"spec.model.uri: tensor {tensor.name!r} keeps its data at {location!r}, which "
            f"{where}; save the model as one self-contained file (onnx.save(model, path, "
            "save_as_external_data=False)) and update uri and sha256")


def _opset(model: onnx.ModelProto) -> int:
    versions = [o.version for o in model.opset_import if o.domain in _STANDARD_DOMAINS]
    latest = onnx.defs.onnx_opset_version()
    if not versions or not MIN_OPSET <= versions[0] <= latest:
        found = versions[0] if versions else "none"
        raise InvalidModel(f"spec.model.uri: the model's opset is {found}; the builder takes "
                           f"opset {MIN_OPSET} to {latest}: re-export the model with one of those")
    return versions[0]


def _operators(model: onnx.ModelProto, opset: int) -> None:
    graphs = [model.graph]
    while graphs:
        graph = graphs.pop()
        for node in graph.node:
            if node.domain not in _STANDARD_DOMAINS:
                raise UnsupportedOperator(
                    f"spec.model.uri: node {node.name or node.op_type!r} uses {node.op_type} from "
                    f"the custom domain {node.domain!r}; engines take standard ONNX operators "
                    "only: re-export without custom operators"
                )
            if not onnx.defs.has(node.op_type, opset, ""):
                raise UnsupportedOperator(
                    f"spec.model.uri: {node.op_type} (node {node.name or '?'}) is not a standard "
                    f"ONNX operator at opset {opset}; re-export with standard operators"
                )
            graphs.extend(a.g for a in node.attribute if a.type == onnx.AttributeProto.GRAPH)
            graphs.extend(a.graphs[i] for a in node.attribute for i in range(len(a.graphs)))


def _image_input(model: onnx.ModelProto, spec: ModelSpec,
                 batch: BatchSpec) -> tuple[str, int | None]:
    initializers = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if len(inputs) != 1:
        raise InvalidModel(f"spec.model.uri: the model has {len(inputs)} inputs "
                           f"({', '.join(i.name for i in inputs)}); it must take exactly one "
                           "image batch")
    image = inputs[0]
    if image.name != spec.input.name:
        raise InvalidModel(f"spec.model.input.name: is {spec.input.name!r} but the model's input "
                           f"is {image.name!r}; set model.input.name: {image.name}")
    if image.type.tensor_type.elem_type != onnx.TensorProto.FLOAT:
        elem = onnx.TensorProto.DataType.Name(image.type.tensor_type.elem_type)
        raise InvalidModel(f"spec.model.uri: input {image.name!r} is {elem}; the builder takes a "
                           "float32 image input (it fuses the uint8 conversion itself)")
    dims = _dims(image)
    layout = spec.input.layout
    if len(dims) != 4:
        raise InvalidModel(f"spec.model.input.shape: the model's input {image.name!r} has rank "
                           f"{len(dims)}; it must be a rank-4 {layout} image batch")
    want = {"C": spec.input.channels, "H": spec.input.height, "W": spec.input.width}
    for axis, size in zip(layout[1:], dims[1:], strict=True):
        if size is not None and size != want[axis]:
            raise InvalidModel(
                f"spec.model.input.shape: the model takes {axis}={size} "
                f"({layout} {_show(dims)}) but the spec says "
                f"[{spec.input.channels}, {spec.input.height}, {spec.input.width}]; set shape "
                f"to the model's [C, H, W] (and layout if the model is NHWC)"
            )
    fixed = dims[0]
    if fixed is not None and not batch.min == batch.max == fixed:
        raise InvalidModel(f"spec.engine.batch: the model's batch size is fixed at {fixed}; set "
                           f"min, opt and max to {fixed}, or re-export with a dynamic batch")
    return image.name, fixed


def _show(dims: list[int | None]) -> str:
    return "[" + ", ".join("?" if d is None else str(d) for d in dims) + "]"


def _heads(model: onnx.ModelProto, spec: ModelSpec) -> None:
    outputs = {o.name: o for o in model.graph.output}
    for head, name in spec.outputs.items():
        if name not in outputs:
            raise InvalidModel(f"spec.model.outputs.{head}: the model has no output {name!r}; "
                               f"its outputs are {', '.join(sorted(outputs))}")
        dims = _dims(outputs[name])
        if outputs[name].type.tensor_type.HasField("shape") and len(dims) != 2:
            raise InvalidModel(f"spec.model.outputs.{head}: output {name!r} has shape "
                               f"{_show(dims)}; a head must be [N, K]")
        width = dims[1] if len(dims) == 2 else None
        if head == "emotion" and width is not None and width != len(spec.emotion_labels):
            raise InvalidSpec(f"spec.model.emotionLabels: the emotion output has {width} classes "
                              f"but {len(spec.emotion_labels)} labels are given; give one label "
                              "per class in the model's order (without emotionLabels the "
                              "builder takes the 7 FER-2013 classes)")
        if head != "emotion" and width is not None and width != 1:
            raise InvalidModel(f"spec.model.outputs.{head}: output {name!r} has {width} values "
                               "per crop; the head must be one score in [0, 1] per crop")


def check_model(path: Path, spec: ModelSpec, batch: BatchSpec) -> CheckedModel:
    model = load_model(path)
    opset = _opset(model)
    _operators(model, opset)
    input_name, fixed = _image_input(model, spec, batch)
    _heads(model, spec)
    return CheckedModel(model=model, opset=opset, input_name=input_name, fixed_batch=fixed)

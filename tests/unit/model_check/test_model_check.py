"""What the builder refuses before spending any work on a model."""

from __future__ import annotations

from pathlib import Path

import onnx
import pytest
from classroom_inference.builder.errors import InvalidModel, UnsupportedOperator
from classroom_inference.builder.model_check import CheckedModel, check_model
from classroom_inference.builder.spec import parse_spec
from onnx import TensorProto, helper

SPEC = parse_spec({"model": {"uri": "file:///m.onnx", "sha256": "0" * 64,
                             "input": {"shape": [3, 8, 8]}, "outputs": {"emotion": "probs"},
                             "emotionLabels": ["a", "b", "c"]}})


def _model(nodes: list[onnx.NodeProto], inputs: list[onnx.ValueInfoProto] | None = None,
           opset: int = 17, extra_opsets: tuple[str, ...] = ()) -> onnx.ModelProto:
    inputs = inputs or [helper.make_tensor_value_info("input", TensorProto.FLOAT,
                                                      ["N", 3, 8, 8])]
    graph = helper.make_graph(nodes, "m", inputs,
                              [helper.make_tensor_value_info("probs", TensorProto.FLOAT,
                                                             ["N", 3])])
    opsets = [helper.make_opsetid("", opset)] + [helper.make_opsetid(d, 1) for d in extra_opsets]
    return helper.make_model(graph, opset_imports=opsets)


POOL = [helper.make_node("ReduceMean", ["input"], ["probs"], axes=[2, 3], keepdims=0)]


def _check(model: onnx.ModelProto, tmp_path: Path) -> CheckedModel:
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    return check_model(path, SPEC.model, SPEC.engine.batch)


def test_a_fitting_model_passes(tmp_path: Path) -> None:
    checked = _check(_model(POOL), tmp_path)
    assert checked.input_name == "input" and checked.fixed_batch is None


def test_opset_too_old(tmp_path: Path) -> None:
    with pytest.raises(InvalidModel, match="opset is 6; the builder takes opset 7"):
        _check(_model(POOL, opset=6), tmp_path)


def test_custom_operator_inside_a_subgraph(tmp_path: Path) -> None:
    branch = helper.make_graph(
        [helper.make_node("Secret", ["input"], ["y"], domain="com.vendor")], "then", [],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    cond = helper.make_node("Constant", [], ["flag"], value=helper.make_tensor(
        "flag", TensorProto.BOOL, [], [True]))
    branch_node = helper.make_node("If", ["flag"], ["probs"], then_branch=branch,
                                   else_branch=branch)
    with pytest.raises(UnsupportedOperator, match=r"Secret.*com\.vendor"):
        _check(_model([cond, branch_node], extra_opsets=("com.vendor",)), tmp_path)


def test_operator_not_in_the_models_opset(tmp_path: Path) -> None:
    gelu = [helper.make_node("Gelu", ["input"], ["g"]),
            helper.make_node("ReduceMean", ["g"], ["probs"], axes=[2, 3], keepdims=0)]
    with pytest.raises(UnsupportedOperator, match=r"Gelu .* opset 17"):
        _check(_model(gelu), tmp_path)


def test_two_inputs(tmp_path: Path) -> None:
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 8, 8]),
              helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["N", 1])]
    with pytest.raises(InvalidModel, match=r"2 inputs .*exactly one image batch"):
        _check(_model(POOL, inputs), tmp_path)


def test_uint8_input(tmp_path: Path) -> None:
    inputs = [helper.make_tensor_value_info("input", TensorProto.UINT8, ["N", 3, 8, 8])]
    with pytest.raises(InvalidModel, match="input 'input' is UINT8"):
        _check(_model(POOL, inputs), tmp_path)


def test_nhwc_model_declared_nchw(tmp_path: Path) -> None:
    inputs = [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 8, 8, 3])]
    pool = [helper.make_node("ReduceMean", ["input"], ["probs"], axes=[1, 2], keepdims=0)]
    with pytest.raises(InvalidModel, match=r"C=8 \(NCHW \[\?, 8, 8, 3\]\).*layout"):
        _check(_model(pool, inputs), tmp_path)


def test_a_head_that_is_not_two_dimensional(tmp_path: Path) -> None:
    model = _model(POOL)
    del model.graph.output[0].type.tensor_type.shape.dim[1]
    with pytest.raises(InvalidModel, match=r"spec\.model\.outputs\.emotion.*\[N, K\]"):
        _check(model, tmp_path)


def _with_external_weights(location: str) -> onnx.ModelProto:
    """POOL plus a weight whose data the file says is kept at `location`."""
    weight = helper.make_tensor("scale", TensorProto.FLOAT, [1], [1.0])
    weight.ClearField("float_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", location
    model = _model([helper.make_node("ReduceMean", ["input"], ["pooled"], axes=[2, 3],
                                     keepdims=0),
                    helper.make_node("Mul", ["pooled", "scale"], ["probs"])])
    model.graph.initializer.append(weight)
    return model


@pytest.mark.parametrize("location", ["../secret.bin", "weights/../../etc/shadow",
                                      "/etc/passwd", "C:\\weights.bin"])
def test_external_data_outside_the_models_folder_is_permanent(tmp_path: Path,
                                                              location: str) -> None:
    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0\0\x80?")  # a readable file there: still refused, never read
    folder = tmp_path / "model"
    folder.mkdir()
    with pytest.raises(InvalidModel) as refused:
        _check(_with_external_weights(location), folder)
    message = str(refused.value)
    assert message.startswith("spec.model.uri:") and "outside the model's folder" in message
    assert "save_as_external_data=False" in message and refused.value.exit_code == 2


def test_external_data_beside_the_model_is_not_fetched(tmp_path: Path) -> None:
    (tmp_path / "weights.bin").write_bytes(b"\0\0\x80?")
    with pytest.raises(InvalidModel, match="separate file, which the builder does not fetch"):
        _check(_with_external_weights("weights.bin"), tmp_path)

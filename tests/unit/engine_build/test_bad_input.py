"""Bad input: a clear message naming the field and the fix, the contract's exit code, and nothing
left in the store."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import onnx
import pytest
from classroom_inference.builder.fetch import sha256_file
from onnx import TensorProto, helper
from unit.engine_build.kit import (
    FINGERPRINT,
    HttpServer,
    assert_nothing_stored,
    build_spec,
    run_build,
)


def _pin(model: dict[str, Any], path: Path) -> dict[str, Any]:
    return dict(model, uri=path.as_uri(), sha256=sha256_file(path))


def _expect(run: Any, code: int, reason: str, *words: str) -> None:
    assert run.code == code, run.summary
    assert run.summary["state"] == "Failed" and run.summary["reason"] == reason
    assert run.summary["permanent"] is (code == 2)
    for word in words:
        assert word in run.summary["message"], run.summary["message"]
    assert json.loads(run.termination_log) == run.summary


def test_wrong_checksum(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    model_spec["sha256"] = hashlib.sha256(b"another model").hexdigest()
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "ChecksumMismatch", "spec.model.sha256", "update the sha256")
    assert_nothing_stored(store)


def test_truncated_model(reference: tuple[Path, Any], model_spec: dict[str, Any], store: Path,
                         tmp_path: Path) -> None:
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(reference[0].read_bytes()[:5000])
    run = run_build(build_spec(_pin(model_spec, cut)), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.uri", "not an ONNX model")
    assert_nothing_stored(store)


def test_not_an_onnx_file(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    other = tmp_path / "model.onnx"
    other.write_text("<html>sign in to download</html>\n")
    run = run_build(build_spec(_pin(model_spec, other)), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.uri", "export the model to ONNX")
    assert_nothing_stored(store)


def _save(model: onnx.ModelProto, path: Path) -> Path:
    path.write_bytes(model.SerializeToString())
    return path


def test_custom_operator(reference: tuple[Path, Any], model_spec: dict[str, Any], store: Path,
                         tmp_path: Path) -> None:
    model = onnx.load(str(reference[0]))
    relu = next(n for n in model.graph.node if n.op_type == "Relu")
    relu.op_type, relu.domain = "FancyRelu", "com.example.vision"
    model.opset_import.append(helper.make_opsetid("com.example.vision", 1))
    path = _save(model, tmp_path / "custom.onnx")
    run = run_build(build_spec(_pin(model_spec, path)), store, tmp_path)
    _expect(run, 2, "UnsupportedOperator", "FancyRelu", "com.example.vision")
    assert_nothing_stored(store)


def test_wrong_input_rank(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["input"], ["emotion_probs"], axes=[2], keepdims=0)],
        "flat", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, 48])],
        [helper.make_tensor_value_info("emotion_probs", TensorProto.FLOAT, ["N", 3])])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path = _save(model, tmp_path / "flat.onnx")
    model_spec["outputs"] = {"emotion": "emotion_probs"}
    run = run_build(build_spec(_pin(model_spec, path)), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.input.shape", "rank 3", "rank-4")
    assert_nothing_stored(store)


def test_wrong_input_size(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    model_spec["input"] = dict(model_spec["input"], shape=[3, 64, 64])
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.input.shape", "H=48")
    assert_nothing_stored(store)


def test_wrong_input_name(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    model_spec["input"] = dict(model_spec["input"], name="data")
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.input.name", "set model.input.name: input")


def test_missing_output(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    model_spec["outputs"] = dict(model_spec["outputs"], attention="gaze")
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.outputs.attention", "'gaze'",
            "emotion_probs")
    assert_nothing_stored(store)


def test_external_weights_outside_the_models_folder(reference: tuple[Path, Any],
                                                    model_spec: dict[str, Any], store: Path,
                                                    tmp_path: Path) -> None:
    model = onnx.load(str(reference[0]))
    weight = next(t for t in model.graph.initializer if t.name == "emotion.logits.w")
    weight.ClearField("raw_data")
    weight.data_location = TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    path = _save(model, tmp_path / "external.onnx")
    run = run_build(build_spec(_pin(model_spec, path)), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.model.uri", "'../../etc/passwd'",
            "outside the model's folder")
    assert_nothing_stored(store)


def test_emotion_labels_that_do_not_match_the_classes(model_spec: dict[str, Any], store: Path,
                                                      tmp_path: Path) -> None:
    model_spec["emotionLabels"] = ["calm", "upset"]
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "InvalidSpec", "spec.model.emotionLabels", "7 classes",
            "one label per class")


def test_emotion_labels_against_classes_only_known_when_run(
        reference: tuple[Path, Any], model_spec: dict[str, Any], store: Path,
        tmp_path: Path) -> None:
    """An export with a dynamic class axis: the count is checked on the model's real output."""
    model = onnx.load(str(reference[0]))
    emotion = next(o for o in model.graph.output if o.name == "emotion_probs")
    emotion.type.tensor_type.shape.dim[1].dim_param = "K"
    path = _save(model, tmp_path / "dynamic-classes.onnx")
    spec = dict(_pin(model_spec, path), emotionLabels=["calm", "upset"])
    run = run_build(build_spec(spec), store, tmp_path)
    _expect(run, 2, "InvalidSpec", "spec.model.emotionLabels", "7 classes")
    assert_nothing_stored(store)


def test_without_labels_a_7_class_head_takes_the_fer_order(model_spec: dict[str, Any],
                                                           store: Path, tmp_path: Path) -> None:
    del model_spec["emotionLabels"]
    run = run_build(build_spec(model_spec), store, tmp_path)
    assert run.code == 0, run.summary
    meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
    assert meta["emotionLabels"] == ["angry", "disgust", "fear", "happy", "sad", "surprise",
                                     "neutral"]


def test_a_grayscale_model_without_its_normalisation(tmp_path: Path, store: Path) -> None:
    from unit.engine_build.kit import write_reference_model

    _, model = write_reference_model(tmp_path / "m", channels=1)
    del model["input"]["mean"], model["input"]["std"]
    run = run_build(build_spec(model), store, tmp_path)
    _expect(run, 2, "InvalidSpec", "spec.model.input.mean", "1-channel",
            "mean [0.5], std [0.5]")
    assert_nothing_stored(store)


def test_one_output_mapped_to_two_heads(model_spec: dict[str, Any], store: Path,
                                        tmp_path: Path) -> None:
    model_spec["outputs"] = dict(model_spec["outputs"], engagement="attention_score")
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "InvalidSpec", "spec.model.outputs", "attention and engagement",
            "'attention_score'")
    assert_nothing_stored(store)


def test_heads_that_say_the_same_for_every_crop_build_with_a_warning(
        reference: tuple[Path, Any], model_spec: dict[str, Any], store: Path,
        tmp_path: Path) -> None:
    """Zeroed weights: emotion is its bias's class and engagement its bias's score, whatever
    the face. It builds (engine and reference agree), and says so."""
    model = onnx.load(str(reference[0]))
    for init in model.graph.initializer:
        if init.name in ("emotion.logits.w", "engagement.logit.w"):
            zero = onnx.numpy_helper.to_array(init) * 0
            init.CopyFrom(onnx.numpy_helper.from_array(zero, init.name))
    path = _save(model, tmp_path / "constant-heads.onnx")
    run = run_build(build_spec(_pin(model_spec, path)), store, tmp_path)

    assert run.code == 0, run.summary
    warnings = run.summary["warnings"]
    assert [w.split(":")[0] for w in warnings] == ["DegenerateHead", "DegenerateHead"]
    assert "emotion is " in warnings[0] and "on all 24 synthetic crops" in warnings[0]
    assert warnings[1].startswith("DegenerateHead: engagement is ")
    assert all("spec.model.input" in w for w in warnings)
    folder = store / FINGERPRINT
    assert json.loads((folder / "meta.json").read_text())["warnings"] == warnings
    assert json.loads((folder / "validation.json").read_text())["warnings"] == warnings
    assert len(run.termination_log.strip().encode()) <= 4096


def test_batch_profile_against_a_fixed_batch_model(reference: tuple[Path, Any],
                                                   model_spec: dict[str, Any], store: Path,
                                                   tmp_path: Path) -> None:
    model = onnx.load(str(reference[0]))
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4
    path = _save(model, tmp_path / "fixed.onnx")
    run = run_build(build_spec(_pin(model_spec, path)), store, tmp_path)
    _expect(run, 2, "InvalidModel", "spec.engine.batch", "fixed at 4")


def test_calibration_folder_empty(model_spec: dict[str, Any], store: Path,
                                  tmp_path: Path) -> None:
    (tmp_path / "calibration").mkdir()
    (tmp_path / "calibration" / "README.txt").write_text("faces go here")
    spec = build_spec(model_spec, engine={"precision": "int8", "calibration": {
        "uri": (tmp_path / "calibration").as_uri()}})
    run = run_build(spec, store, tmp_path)
    _expect(run, 2, "CalibrationFailed", "spec.engine.calibration.uri", "holds no images")
    assert_nothing_stored(store)


def test_calibration_image_unreadable(model_spec: dict[str, Any], store: Path,
                                      tmp_path: Path) -> None:
    archive = tmp_path / "faces.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        data = b"\x89PNG but not really"
        info = tarfile.TarInfo("faces/0001.png")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    spec = build_spec(model_spec, engine={"precision": "int8", "calibration": {
        "uri": archive.as_uri(), "sha256": sha256_file(archive)}})
    run = run_build(spec, store, tmp_path)
    _expect(run, 2, "CalibrationFailed", "faces/0001.png", "not a readable image")
    assert_nothing_stored(store)


def test_calibration_archive_corrupt(model_spec: dict[str, Any], store: Path,
                                     tmp_path: Path) -> None:
    archive = tmp_path / "faces.zip"
    archive.write_bytes(b"PK\x03\x04 truncated")
    spec = build_spec(model_spec, engine={"precision": "int8", "calibration": {
        "uri": archive.as_uri()}})
    run = run_build(spec, store, tmp_path)
    _expect(run, 2, "CalibrationFailed", "spec.engine.calibration.uri", "repack")


def test_store_not_writable(model_spec: dict[str, Any], readonly_store: Path,
                            tmp_path: Path) -> None:
    run = run_build(build_spec(model_spec), readonly_store, tmp_path)
    _expect(run, 1, "StoreFailed", "not writable")
    assert list(readonly_store.iterdir()) == []


def test_store_full(model_spec: dict[str, Any], full_store: Path, tmp_path: Path) -> None:
    run = run_build(build_spec(model_spec), full_store, tmp_path)
    _expect(run, 1, "StoreFailed", "full")
    assert_nothing_stored(full_store)


def test_model_url_404(model_spec: dict[str, Any], store: Path, tmp_path: Path,
                       server: HttpServer) -> None:
    model_spec["uri"] = server.url + "/models/gone.onnx"
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "FetchFailed", "spec.model.uri", "HTTP 404")
    assert server.hits["/models/gone.onnx"] == 1  # a wrong URL is not retried
    assert_nothing_stored(store)


def test_model_url_times_out(model_spec: dict[str, Any], store: Path, tmp_path: Path,
                             server: HttpServer) -> None:
    server.stall("/models/slow.onnx", seconds=3)
    model_spec["uri"] = server.url + "/models/slow.onnx"
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 1, "FetchFailed", "after 2 attempts", "timed out")
    assert server.hits["/models/slow.onnx"] == 2
    assert_nothing_stored(store)


def test_model_over_the_size_cap(model_spec: dict[str, Any], store: Path, tmp_path: Path,
                                 server: HttpServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLASSROOM_FETCH_MAX_BYTES", "4096")
    server.endless("/models/huge.onnx")
    model_spec["uri"] = server.url + "/models/huge.onnx"
    run = run_build(build_spec(model_spec), store, tmp_path)
    _expect(run, 2, "TooLarge", "4096 byte cap", "CLASSROOM_FETCH_MAX_BYTES")
    assert_nothing_stored(store)


def test_validation_thresholds_missed(model_spec: dict[str, Any], store: Path,
                                      tmp_path: Path) -> None:
    spec = build_spec(model_spec, engine={"precision": "fp16"},
                      validation={"maxAttentionError": 0.0, "maxEngagementError": 0.0})
    run = run_build(spec, store, tmp_path)
    _expect(run, 2, "ValidationFailed", "attention mean absolute error",
            "maxAttentionError 0.0", "engagement mean absolute error")
    figures = run.summary["validation"]
    assert figures["passed"] is False and figures["attentionMae"] > 0
    assert figures["emotionAgreement"] is not None
    assert_nothing_stored(store)


def test_spec_not_json(store: Path, tmp_path: Path) -> None:
    run = run_build("{model: ", store, tmp_path)
    _expect(run, 2, "InvalidSpec", "not valid JSON")


def test_spec_field_named_with_its_fix(model_spec: dict[str, Any], store: Path,
                                       tmp_path: Path) -> None:
    spec = build_spec(model_spec, engine={"precision": "int4"})
    run = run_build(spec, store, tmp_path)
    _expect(run, 2, "InvalidSpec", "spec.engine.precision", "fp32, fp16, int8", "'int4'")


def test_bad_fingerprint(model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    run = run_build(build_spec(model_spec), store, tmp_path, fingerprint="../../etc")
    _expect(run, 2, "InvalidSpec", "--fingerprint")
    assert list(store.iterdir()) == []


def test_an_existing_engine_is_untouched_by_a_failed_build(
        model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    assert run_build(build_spec(model_spec), store, tmp_path).code == 0
    before = {p.name: p.read_bytes() for p in (store / FINGERPRINT).iterdir()}
    other = "fedcba9876543210"
    bad = build_spec(model_spec, validation={"maxAttentionError": 0.0}, engine={
        "precision": "fp16"})
    assert run_build(bad, store, tmp_path, fingerprint=other).code == 2
    assert {p.name: p.read_bytes() for p in (store / FINGERPRINT).iterdir()} == before
    assert_nothing_stored(store, other)


def test_cuda_backend_on_a_node_without_it(model_spec: dict[str, Any], store: Path,
                                           tmp_path: Path) -> None:
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has the CUDA provider")
    run = run_build(build_spec(model_spec), store, tmp_path, backend="onnxruntime-cuda")
    _expect(run, 1, "BackendUnavailable", "CUDAExecutionProvider")
    assert_nothing_stored(store)

"""`classroom-inference build` on the CPU: engine, meta.json, validation.json per the contract."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from classroom_inference.builder.fetch import sha256_file
from classroom_inference.builder.samples import synthetic_faces, write_images
from classroom_inference.runners import open_runner
from unit.engine_build.kit import FINGERPRINT, SIZE, build_spec, run_build


@pytest.mark.parametrize("precision", ["fp32", "fp16"])
def test_build_stores_a_validated_engine(precision: str, model_spec: dict[str, Any],
                                         store: Path, tmp_path: Path) -> None:
    run = run_build(build_spec(model_spec, engine={"precision": precision}), store, tmp_path)

    assert run.code == 0, run.summary
    assert run.summary["state"] == "Ready" and run.summary["reason"] == "Built"
    assert json.loads(run.termination_log) == run.summary
    folder = store / FINGERPRINT
    assert sorted(p.name for p in folder.iterdir()) == ["engine.onnx", "meta.json",
                                                        "validation.json"]
    meta = json.loads((folder / "meta.json").read_text())
    assert meta["fingerprint"] == FINGERPRINT and meta["precision"] == precision
    assert meta["engineSha256"] == sha256_file(folder / "engine.onnx")
    assert meta["sizeBytes"] == (folder / "engine.onnx").stat().st_size
    assert meta["input"] == {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                             "height": SIZE, "width": SIZE, "channels": 3}
    assert meta["outputs"] == {"attention": "attention", "emotion": "emotion",
                               "engagement": "engagement"}
    assert meta["model"]["sha256"] == model_spec["sha256"]
    assert set(meta["throughput"]) == {"1", "8", "16"} == set(meta["latencyMs"])
    assert all(v > 0 for v in meta["throughput"].values())
    assert run.summary["throughput"] == {"batch": 8, "cropsPerSecond": meta["throughput"]["8"],
                                         "spread": meta["throughputSpread"]["8"]}
    assert set(meta["throughputSpread"]) == set(meta["throughput"])
    validation = json.loads((folder / "validation.json").read_text())
    assert validation["passed"] is True and validation["samples"] == 24
    assert validation["attentionMae"] < 0.01 and validation["emotionAgreement"] >= 0.9
    assert not list((store / ".tmp").iterdir())


def test_stored_engine_runs_on_the_pods_runner(model_spec: dict[str, Any], store: Path,
                                               tmp_path: Path) -> None:
    assert run_build(build_spec(model_spec), store, tmp_path).code == 0
    crops = synthetic_faces(4, (SIZE, SIZE, 3), seed=11)
    crops[:2] = 240  # bright faces read attentive, dark ones distracted
    crops[2:] = 15
    with open_runner(store / FINGERPRINT) as runner:
        heads = runner.infer(crops)
    assert heads["attention"][:2].min() > 0.8 and heads["attention"][2:].max() < 0.2
    assert np.allclose(heads["emotion"].sum(axis=1), 1.0, atol=1e-5)
    assert heads["engagement"].shape == (4, 1)


def test_int8_from_a_calibration_folder(model_spec: dict[str, Any], store: Path,
                                        tmp_path: Path) -> None:
    write_images(synthetic_faces(32, (SIZE, SIZE, 3), seed=4), tmp_path / "calibration")
    spec = build_spec(model_spec,
                      engine={"precision": "int8",
                              "calibration": {"uri": (tmp_path / "calibration").as_uri(),
                                              "samples": 32}},
                      validation={"minEmotionAgreement": 0.6, "maxEngagementError": 0.1})
    run = run_build(spec, store, tmp_path)
    assert run.code == 0, run.summary
    assert "calibrating on 32 crops" in run.stderr
    meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
    assert meta["precision"] == "int8"
    assert run.summary["validation"]["attentionMae"] > 0  # quantized: close, not identical


def test_a_retried_build_reuses_the_stored_engine(model_spec: dict[str, Any], store: Path,
                                                  tmp_path: Path) -> None:
    spec = build_spec(model_spec)
    first = run_build(spec, store, tmp_path)
    engine = store / FINGERPRINT / "engine.onnx"
    stamp = engine.stat().st_mtime_ns
    again = run_build(spec, store, tmp_path)
    assert again.code == 0 and again.summary["reason"] == "Reused"
    assert again.summary["validation"] == first.summary["validation"]
    assert engine.stat().st_mtime_ns == stamp


def test_a_damaged_stored_engine_is_rebuilt(model_spec: dict[str, Any], store: Path,
                                            tmp_path: Path) -> None:
    spec = build_spec(model_spec)
    assert run_build(spec, store, tmp_path).code == 0
    engine = store / FINGERPRINT / "engine.onnx"
    engine.write_bytes(engine.read_bytes()[:100])
    run = run_build(spec, store, tmp_path)
    assert run.code == 0 and run.summary["reason"] == "Built"
    meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
    assert sha256_file(engine) == meta["engineSha256"]


def test_a_model_with_only_the_emotion_head(tmp_path: Path, store: Path) -> None:
    from unit.engine_build.kit import write_reference_model

    _, model = write_reference_model(tmp_path / "m", heads=("emotion",))
    run = run_build(build_spec(model), store, tmp_path)
    assert run.code == 0, run.summary
    meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
    assert meta["outputs"] == {"emotion": "emotion"}
    assert run.summary["validation"]["attentionMae"] is None


def test_grayscale_model_served_from_http(tmp_path: Path, store: Path, server: Any) -> None:
    from unit.engine_build.kit import write_reference_model

    path, model = write_reference_model(tmp_path / "m", channels=1)
    server.file("/models/gray.onnx", path.read_bytes())
    model["uri"] = server.url + "/models/gray.onnx"
    run = run_build(build_spec(model), store, tmp_path)
    assert run.code == 0, run.summary
    meta = json.loads((store / FINGERPRINT / "meta.json").read_text())
    assert meta["input"]["channels"] == 1 and meta["model"]["uri"] == model["uri"]


def test_summary_stays_one_line_under_4_kib(model_spec: dict[str, Any], store: Path,
                                            tmp_path: Path) -> None:
    model_spec["outputs"] = {"emotion": "x" * 9000}
    run = run_build(build_spec(model_spec), store, tmp_path)
    assert run.code == 2 and run.summary["reason"] == "InvalidModel"
    assert "\n" not in run.termination_log.strip()
    assert len(run.termination_log.strip().encode()) <= 4096

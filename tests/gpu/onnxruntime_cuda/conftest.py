"""Engines for the ONNX Runtime CUDA runner: the builder's reference model behind the builder's
fused preprocessing (uint8 NHWC crops), in fp32 and in the builder's fp16."""

from __future__ import annotations

import json
from pathlib import Path

import onnx
import pytest

SIZE = 64


@pytest.fixture(autouse=True)
def _cuda_provider() -> None:
    import onnxruntime

    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        pytest.skip("onnxruntime here has no CUDA provider (install onnxruntime-gpu)")


def store_engine(folder: Path, model: onnx.ModelProto, *, precision: str,
                 batch: tuple[int, int, int], emotion_labels: list[str]) -> Path:
    """`<fingerprint>/engine.onnx + meta.json` as the builder leaves an ONNX Runtime engine."""
    folder.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(folder / "engine.onnx"))
    meta = {
        "schemaVersion": 1, "fingerprint": folder.name, "backend": "onnxruntime-cuda",
        "engineFile": "engine.onnx", "precision": precision,
        "input": {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                  "height": SIZE, "width": SIZE, "channels": 3},
        "batch": {"min": batch[0], "opt": batch[1], "max": batch[2]},
        "outputs": {h: h for h in ("attention", "emotion", "engagement")},
        "emotionLabels": emotion_labels,
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder


@pytest.fixture(params=["fp32", "fp16"])
def reference_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    from classroom_inference.builder.preprocess import fuse_preprocessing
    from classroom_inference.builder.reference_model import reference_model, reference_spec
    from classroom_inference.builder.spec import parse_spec

    spec = parse_spec({"model": reference_spec("file:///reference.onnx", "0" * 64,
                                               size=SIZE)}).model
    model = fuse_preprocessing(reference_model(size=SIZE), spec)
    if request.param == "fp16":
        pytest.importorskip("onnxconverter_common", reason="onnxconverter-common is not installed")
        from classroom_inference.builder.precision import to_fp16

        model = to_fp16(model)
    return store_engine(tmp_path / f"0000000000000{request.param}", model,
                        precision=request.param, batch=(1, 32, 64),
                        emotion_labels=list(spec.emotion_labels))

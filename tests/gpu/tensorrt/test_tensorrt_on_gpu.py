"""TensorRT on a real GPU (where TensorRT is installed): build the tiny engine, run it, and get
the ONNX reference's heads; the timing cache is saved and reused."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from bench.engines import EMOTIONS, tiny_model, write_engine
from classroom_inference.builder.tensorrt_engine import build_plan
from classroom_inference.runners import open_runner
from classroom_inference.runners.tensorrt_log import import_tensorrt

try:
    import_tensorrt()
except ImportError as missing:
    pytest.skip(f"TensorRT is not installed on this machine: {missing}", allow_module_level=True)

HWC = (64, 64, 3)


def _build(tmp_path: Path, cache: Path) -> dict[str, object]:
    onnx_path = tmp_path / "preprocessed.onnx"
    onnx.save(tiny_model(*HWC, cost=2), onnx_path)
    folder = tmp_path / "store" / "00000000000000cc"
    folder.mkdir(parents=True, exist_ok=True)
    result = build_plan(onnx_path, folder / "engine.plan", input_name="crops", input_hwc=HWC,
                        batch=(1, 16, 64), workspace_mib=1024, timing_cache=cache,
                        hardware_compatibility="none", version_compatible=False, log=print)
    meta = {
        "schemaVersion": 1, "fingerprint": folder.name, "backend": "tensorrt",
        "engineFile": "engine.plan", "precision": "fp32",
        "input": {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                  "height": HWC[0], "width": HWC[1], "channels": HWC[2]},
        "batch": {"min": 1, "opt": 16, "max": 64},
        "outputs": {"attention": "attention", "emotion": "emotion", "engagement": "engagement"},
        "emotionLabels": EMOTIONS,
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return result


def test_built_engine_matches_the_onnx_reference(tmp_path: Path) -> None:
    cache = tmp_path / "timing-cache" / "gpu.cache"
    first = _build(tmp_path, cache)
    assert first["timingCacheSaved"] is True and cache.stat().st_size > 0
    assert _build(tmp_path, cache)["timingCacheLoaded"] is True
    reference = open_runner(write_engine(tmp_path / "cpu", batch=(1, 16, 64), cost=2))
    engine = open_runner(tmp_path / "store" / "00000000000000cc")
    with reference, engine:
        for seed, rows in enumerate([1, 9, 64]):
            batch = np.random.default_rng(seed).integers(0, 256, (rows, *HWC), dtype=np.uint8)
            got, want = engine.infer(batch), reference.infer(batch)
            for head in want:
                np.testing.assert_allclose(got[head], want[head], atol=1e-3, rtol=1e-3)

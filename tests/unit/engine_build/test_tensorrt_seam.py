"""Backend tensorrt goes through builder.tensorrt_engine.build_plan with the spec's settings."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from classroom_inference.builder import tensorrt_engine
from classroom_inference.builder.errors import EngineBuildFailed
from unit.engine_build.kit import assert_nothing_stored, build_spec, run_build


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None,
                    reason="TensorRT is installed here")
def test_without_tensorrt_the_build_is_transient_and_stores_nothing(
        model_spec: dict[str, Any], store: Path, tmp_path: Path) -> None:
    run = run_build(build_spec(model_spec), store, tmp_path, backend="tensorrt")
    assert run.code == 1 and run.summary["reason"] == "BackendUnavailable"
    assert run.summary["permanent"] is False
    assert_nothing_stored(store)


def test_build_plan_gets_the_preprocessed_graph_and_the_profile(
        model_spec: dict[str, Any], store: Path, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def build_plan(onnx_path: Path, plan_path: Path, **settings: Any) -> dict[str, object]:
        import onnx

        graph = onnx.load(str(onnx_path))
        seen.update(settings, inputs=[i.name for i in graph.graph.input],
                    outputs=[o.name for o in graph.graph.output], plan=plan_path.name)
        raise EngineBuildFailed("stop here: this test checks the call only")

    monkeypatch.setattr(tensorrt_engine, "build_plan", build_plan)
    spec = build_spec(model_spec, engine={"batch": {"min": 2, "opt": 8, "max": 32},
                                          "workspaceMiB": 1024,
                                          "hardwareCompatibility": "ampere+",
                                          "versionCompatible": True})
    run = run_build(spec, store, tmp_path, backend="tensorrt")
    assert run.summary["reason"] == "EngineBuildFailed"
    assert seen["inputs"] == ["crops"] and seen["input_name"] == "crops"
    assert seen["outputs"] == ["attention", "emotion", "engagement"]
    assert seen["input_hwc"] == (48, 48, 3) and seen["batch"] == (2, 8, 32)
    assert seen["workspace_mib"] == 1024 and seen["hardware_compatibility"] == "ampere+"
    assert seen["version_compatible"] is True and seen["plan"] == "engine.plan"
    assert seen["timing_cache"] == store / "timing-cache" / "cpu.cache"
    assert (store / "timing-cache").is_dir()
    assert_nothing_stored(store)

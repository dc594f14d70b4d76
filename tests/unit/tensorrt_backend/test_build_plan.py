"""build_plan through the fake tensorrt: what the build asks TensorRT for, and its typed errors."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import ModuleType

import onnx
import pytest
from bench.engines import tiny_model
from classroom_inference.builder import errors
from onnx import TensorProto, helper
from unit.tensorrt_backend.conftest import BuildLog, PlanBuilder


def _plan(path: Path) -> dict[str, object]:
    plan = json.loads(path.read_bytes())
    assert isinstance(plan, dict)
    return plan


def test_a_strongly_typed_build_with_profile_and_pool(build: PlanBuilder, tmp_path: Path,
                                                       fake_trt: ModuleType) -> None:
    result = build(batch=(2, 16, 32), workspace_mib=1536)
    assert result["tensorrt"] == fake_trt.__version__
    plan = _plan(tmp_path / "engine.plan")
    assert plan["networkFlags"] == 1 << fake_trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED
    assert plan["pools"] == {"WORKSPACE": 1536 * 1024 * 1024}
    assert plan["profile"] == {"crops": [[2, 64, 64, 3], [16, 64, 64, 3], [32, 64, 64, 3]]}
    assert plan["flags"] == []
    assert plan["hardwareCompatibility"] is None


def test_compatibility_options_reach_the_config(build: PlanBuilder, tmp_path: Path) -> None:
    result = build(hardware_compatibility="ampere+", version_compatible=True)
    plan = _plan(tmp_path / "engine.plan")
    assert plan["hardwareCompatibility"] == "AMPERE_PLUS"
    assert plan["flags"] == ["VERSION_COMPATIBLE"]
    assert result["versionCompatible"] is True
    assert result["hardwareCompatibility"] == "ampere+"


def test_unknown_hardware_compatibility_names_the_field(build: PlanBuilder,
                                                        tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidSpec, match=r"engine.hardwareCompatibility .*'turing\+'"):
        build(hardware_compatibility="turing+")
    assert not (tmp_path / "engine.plan").exists()


def test_unsupported_operator_is_permanent_and_named(build: PlanBuilder, fake_trt: ModuleType,
                                                     tmp_path: Path) -> None:
    fake_trt._settings["unsupported"] = {"Softmax"}
    with pytest.raises(errors.UnsupportedOperator, match=r"operator\(s\) Softmax") as caught:
        build()
    assert caught.value.permanent
    assert "No importer registered for op: Softmax" in str(caught.value)
    assert not (tmp_path / "engine.plan").exists()


def test_unreadable_model_is_a_permanent_parser_failure(build: PlanBuilder,
                                                        tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.onnx"
    garbage.write_bytes(b"\x08not a protobuf at all" * 10)
    with pytest.raises(errors.EngineBuildFailed, match=r"parser rejected garbage\.onnx") as caught:
        build(onnx=garbage)
    assert caught.value.permanent


def _float_input_model(path: Path) -> Path:
    """The tiny model whose Cast is dropped, so it takes float crops."""
    model = tiny_model(64, 64, 3)
    model.graph.input[0].type.tensor_type.elem_type = TensorProto.FLOAT
    cast = model.graph.node[0]
    model.graph.node.remove(cast)
    model.graph.node.insert(0, helper.make_node("Identity", ["crops"], ["x"]))
    onnx.save(model, path)
    return path


def test_input_must_be_uint8(build: PlanBuilder, tmp_path: Path) -> None:
    with pytest.raises(errors.InvalidModel, match="'crops' must be uint8"):
        build(onnx=_float_input_model(tmp_path / "float.onnx"))


def test_input_shape_and_name_must_match(build: PlanBuilder) -> None:
    with pytest.raises(errors.InvalidModel, match=r"must be \[N, 32, 32, 3\].*\[-1, 64, 64, 3\]"):
        build(input_hwc=(32, 32, 3))
    with pytest.raises(errors.InvalidModel, match=r"single input 'faces'.*'crops'"):
        build(input_name="faces")


def test_builder_failure_carries_tensorrts_error(build: PlanBuilder, fake_trt: ModuleType,
                                                 build_log: BuildLog) -> None:
    fake_trt._settings["build_error"] = "Internal error: could not find any implementation"
    with pytest.raises(errors.EngineBuildFailed, match="could not find any implementation") as c:
        build()
    assert not c.value.permanent  # out of memory or a busy GPU can pass on retry
    assert any("could not find any implementation" in line for line in build_log)


def test_without_tensorrt_the_backend_is_unavailable(build: PlanBuilder,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    with pytest.raises(errors.BackendUnavailable, match="tensorrt is not importable"):
        build()


def _cache_entries(path: Path) -> list[str]:
    data = path.read_bytes()
    magic = b"FAKE-TIMING-CACHE\n"
    assert data.startswith(magic)
    entries = json.loads(data[len(magic):])
    assert isinstance(entries, list)
    return entries


def test_timing_cache_is_saved_then_reused_and_merged(build: PlanBuilder, tmp_path: Path) -> None:
    cache = tmp_path / "timing-cache" / "gpu-a.cache"
    first = build(timing_cache=cache)
    assert (first["timingCacheLoaded"], first["timingCacheSaved"]) == (False, True)
    assert _cache_entries(cache) == ["tactics:preprocessed.onnx"]
    other = tmp_path / "other.onnx"
    onnx.save(tiny_model(64, 64, 3), other)
    second = build(onnx=other, timing_cache=cache)
    assert (second["timingCacheLoaded"], second["timingCacheSaved"]) == (True, True)
    assert _cache_entries(cache) == ["tactics:other.onnx", "tactics:preprocessed.onnx"]
    assert [p.name for p in cache.parent.iterdir()] == ["gpu-a.cache"]  # no temp files left


def test_a_cache_saved_by_another_build_meanwhile_is_kept(build: PlanBuilder,
                                                          tmp_path: Path) -> None:
    cache = tmp_path / "gpu-a.cache"
    concurrent = b"FAKE-TIMING-CACHE\n" + json.dumps(["tactics:someone-else.onnx"]).encode()

    def log(line: str) -> None:
        if line.startswith("building"):  # another builder saves while this one builds
            cache.write_bytes(concurrent)

    build(timing_cache=cache, log=log)
    assert _cache_entries(cache) == ["tactics:preprocessed.onnx", "tactics:someone-else.onnx"]


def test_a_foreign_cache_only_costs_time(build: PlanBuilder, tmp_path: Path,
                                         build_log: BuildLog) -> None:
    cache = tmp_path / "gpu-a.cache"
    cache.write_bytes(b"a cache of another TensorRT version")
    result = build(timing_cache=cache)
    assert result["timingCacheLoaded"] is False
    assert any("does not fit" in line for line in build_log)
    assert _cache_entries(cache) == ["tactics:preprocessed.onnx"]


def test_an_unwritable_cache_does_not_fail_the_build(build: PlanBuilder, tmp_path: Path,
                                                     build_log: BuildLog) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should be")
    result = build(timing_cache=blocker / "gpu-a.cache")
    assert result["timingCacheSaved"] is False
    assert (tmp_path / "engine.plan").exists()
    assert any("could not save the timing cache" in line for line in build_log)

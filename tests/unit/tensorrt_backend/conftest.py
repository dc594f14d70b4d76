"""Fixtures for the TensorRT backend's unit tests: the fake `tensorrt` module on the fake CUDA
device, and the tiny test model as the preprocessed ONNX a build starts from."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import onnx
import pytest
from bench.engines import EMOTIONS, tiny_model
from classroom_inference.builder.tensorrt_engine import build_plan
from unit.gpu_runners.fake_device import FakeDevice, install_fake_cuda
from unit.tensorrt_backend import fake_tensorrt

HWC = (64, 64, 3)


@pytest.fixture
def fake_trt(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    fake_tensorrt._reset()
    monkeypatch.setitem(sys.modules, "tensorrt", fake_tensorrt)
    return fake_tensorrt


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> FakeDevice:
    return install_fake_cuda(monkeypatch)


@pytest.fixture
def onnx_path(tmp_path: Path) -> Path:
    path = tmp_path / "preprocessed.onnx"
    onnx.save(tiny_model(*HWC), path)
    return path


class BuildLog(list[str]):
    def __call__(self, line: str) -> None:
        self.append(line)


@pytest.fixture
def build_log() -> BuildLog:
    return BuildLog()


PlanBuilder = Callable[..., dict[str, object]]


@pytest.fixture
def build(fake_trt: ModuleType, onnx_path: Path, tmp_path: Path,
          build_log: BuildLog) -> PlanBuilder:
    """build_plan with the tiny model's arguments; keyword arguments override them."""

    def run(onnx: Path = onnx_path, plan: Path = tmp_path / "engine.plan",
            **overrides: object) -> dict[str, object]:
        arguments: dict[str, object] = dict(
            input_name="crops", input_hwc=HWC, batch=(1, 16, 32), workspace_mib=512,
            timing_cache=None, hardware_compatibility="none", version_compatible=False,
            log=build_log,
        )
        arguments.update(overrides)
        return build_plan(onnx, plan, **arguments)

    return run


def write_plan_engine(folder: Path, plan: Path, *, batch: tuple[int, int, int] = (1, 16, 32),
                      **extra: object) -> Path:
    """`<fingerprint>/engine.plan + meta.json` as the builder leaves a TensorRT engine."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "engine.plan").write_bytes(plan.read_bytes())
    meta = {
        "schemaVersion": 1, "fingerprint": "00000000000000bb", "backend": "tensorrt",
        "engineFile": "engine.plan", "precision": "fp16",
        "input": {"name": "crops", "dtype": "uint8", "layout": "NHWC",
                  "height": HWC[0], "width": HWC[1], "channels": HWC[2]},
        "batch": {"min": batch[0], "opt": batch[1], "max": batch[2]},
        "outputs": {"attention": "attention", "emotion": "emotion", "engagement": "engagement"},
        "emotionLabels": EMOTIONS,
        **extra,
    }
    (folder / "meta.json").write_text(json.dumps(meta))
    return folder

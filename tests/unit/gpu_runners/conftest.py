"""Fixtures for the GPU runners' unit tests: a fake CUDA runtime and small engines' meta.json."""

from __future__ import annotations

import sys
from pathlib import Path
from types import ModuleType

import pytest
from bench.engines import write_engine
from unit.gpu_runners.fake_device import FakeDevice, install_fake_cuda


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> FakeDevice:
    return install_fake_cuda(monkeypatch)


@pytest.fixture
def engine_dir(tmp_path: Path) -> Path:
    """The tiny test engine (64x64x3, batch 1..128) in the store layout."""
    return write_engine(tmp_path, batch=(1, 16, 32))


@pytest.fixture
def fake_ort(monkeypatch: pytest.MonkeyPatch, fake_cuda: FakeDevice) -> ModuleType:
    """`import onnxruntime` gives fake_onnxruntime, on the fake CUDA device."""
    from unit.gpu_runners import fake_onnxruntime

    fake_onnxruntime._reset()
    monkeypatch.setitem(sys.modules, "onnxruntime", fake_onnxruntime)
    return fake_onnxruntime

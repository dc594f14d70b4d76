"""A `tensorrt` module without TensorRT's API (pip's placeholder package) counts as absent."""

from __future__ import annotations

import sys
import types

import pytest
from classroom_inference.runners.tensorrt_log import import_tensorrt


def test_a_placeholder_tensorrt_module_is_refused_with_its_location(
        monkeypatch: pytest.MonkeyPatch) -> None:
    placeholder = types.ModuleType("tensorrt")
    placeholder.__path__ = ["/site/tensorrt"]  # a namespace package, as the placeholder leaves
    monkeypatch.setitem(sys.modules, "tensorrt", placeholder)
    with pytest.raises(ImportError, match=r"/site/tensorrt.*no Builder"):
        import_tensorrt()

"""Every onnxruntime name the CUDA runner uses exists in the real onnxruntime, and the fake
onnxruntime of these tests offers exactly those names."""

from __future__ import annotations

from pathlib import Path

import classroom_inference.runners.onnxruntime_cuda as runner_module
import onnxruntime
from unit.gpu_runners.api_names import surface, used_names

SOURCE = Path(runner_module.__file__)
# Where the names live in the real package: the module and the objects its calls return.
REAL_OWNERS = (onnxruntime, onnxruntime.InferenceSession, onnxruntime.IOBinding,
               onnxruntime.RunOptions, onnxruntime.SessionOptions,
               onnxruntime.GraphOptimizationLevel, onnxruntime.NodeArg)


def _used() -> set[str]:
    return used_names([SOURCE], {"ort", "_ort"})


def test_the_walk_sees_the_runner_calls() -> None:
    used = _used()
    for name in ("get_available_providers", "InferenceSession", "io_binding", "bind_input",
                 "bind_output", "run_with_iobinding", "add_run_config_entry", "get_providers"):
        assert name in used


def test_every_name_exists_in_the_real_onnxruntime() -> None:
    missing = {n for n in _used() if not any(hasattr(owner, n) for owner in REAL_OWNERS)}
    assert missing == set()


def test_the_fake_offers_exactly_the_used_names() -> None:
    assert surface(Path(__file__).parent / "fake_onnxruntime.py") == _used()

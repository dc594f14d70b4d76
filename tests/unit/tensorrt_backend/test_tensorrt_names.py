"""Every TensorRT name our code uses exists in the real bindings of TensorRT 10 and 11, and the
fake tensorrt of these tests offers exactly those names.

The names come from the code (an AST walk from the `trt` module object through everything it
returns), the real names from NVIDIA's bindings wheels (real_bindings.py), downloaded once.
"""

from __future__ import annotations

import re
from pathlib import Path

import classroom_inference
import pytest
from unit.gpu_runners.api_names import surface, used_names
from unit.tensorrt_backend.real_bindings import WHEELS, bindings

PACKAGE = Path(classroom_inference.__file__).parent
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if re.search(r"\btrt\b", p.read_text()))
ROOTS = {"trt", "_trt"}

# Weakly typed precision and implicit-batch names: gone in TensorRT 11, never to be used.
REMOVED_IN_11 = {"EXPLICIT_BATCH", "FP16", "IInt8EntropyCalibrator2", "IInt8Calibrator"}


def _used() -> set[str]:
    return used_names(SOURCES, ROOTS)


def test_the_walk_covers_the_tensorrt_code() -> None:
    assert [str(p.relative_to(PACKAGE)) for p in SOURCES] == [
        "builder/tensorrt_engine.py", "runners/tensorrt.py", "runners/tensorrt_log.py",
    ]
    used = _used()
    for name in ("STRONGLY_TYPED", "set_memory_pool_limit", "create_timing_cache", "combine",
                 "build_serialized_network", "num_errors", "node_operator", "AMPERE_PLUS",
                 "VERSION_COMPATIBLE", "log", "set_input_shape", "set_tensor_address",
                 "execute_async_v3", "engine_host_code_allowed"):
        assert name in used


def test_the_code_uses_no_removed_precision_api() -> None:
    assert _used() & REMOVED_IN_11 == set()


def test_the_fake_offers_exactly_the_used_names() -> None:
    assert surface(Path(__file__).parent / "fake_tensorrt.py") == _used()


@pytest.mark.parametrize("major", sorted(WHEELS))
def test_every_name_exists_in_the_real_bindings(major: str) -> None:
    assert bindings(major).missing(_used()) == set()


def test_the_check_tells_the_majors_apart() -> None:
    """The names TensorRT 11 removed are found in 10 and missing in 11: the check can fail."""
    assert bindings("10").missing(REMOVED_IN_11) == set()
    assert bindings("11").missing(REMOVED_IN_11) == REMOVED_IN_11
    assert bindings("11").missing({"no_such_method_anywhere"}) == {"no_such_method_anywhere"}

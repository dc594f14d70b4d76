"""Every cuda-python runtime name our runners use exists in the real cuda-python, and the fake
runtime of these tests offers exactly those names."""

from __future__ import annotations

from pathlib import Path

import classroom_inference.runners as runners_package
from unit.gpu_runners.api_names import qualified_module_names, surface

RUNNERS = Path(runners_package.__file__).parent
# Every module that reaches the runtime does so through the name `cudart`.
SOURCES = sorted(p for p in RUNNERS.glob("*.py") if "cudart" in p.read_text())


def _used() -> set[str]:
    return qualified_module_names(SOURCES, {"cudart"})


def test_the_walk_sees_the_runtime_calls() -> None:
    assert [p.name for p in SOURCES] == ["cuda_memory.py"]
    used = _used()
    for name in ("cudaMallocHost", "cudaMemcpyAsync", "cudaStreamWaitEvent",
                 "cudaMemcpyKind.cudaMemcpyHostToDevice", "cudaError_t.cudaSuccess"):
        assert name in used


def test_every_name_exists_in_real_cuda_python() -> None:
    from cuda.bindings import runtime  # the `gpu` extra; it installs on machines without GPUs

    missing = []
    for dotted in sorted(_used()):
        value: object = runtime
        for part in dotted.split("."):
            if not hasattr(value, part):
                missing.append(dotted)
                break
            value = getattr(value, part)
    assert missing == []


def test_the_fake_runtime_offers_exactly_those_names() -> None:
    used = {part for dotted in _used() for part in dotted.split(".")}
    assert surface(Path(__file__).parent / "fake_cudart.py") == used

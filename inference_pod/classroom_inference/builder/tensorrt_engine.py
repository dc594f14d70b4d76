"""The TensorRT build: preprocessed ONNX (uint8 NHWC input) in, serialized plan out.

Written for TensorRT 10.x and 11.x alike. Precision is already decided in the graph (fp16 casts,
int8 Q/DQ nodes), so the network is strongly typed and no weakly typed precision flag or
calibrator is used: TensorRT 11 removed them and TensorRT 10 deprecated them. The timing cache of
the node's GPU class is loaded before the build and merged back after it, so the second build of
a model on a GPU class skips most of the tactic timing.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classroom_inference.builder import errors
from classroom_inference.runners.tensorrt_log import TensorRtLog, import_tensorrt

HARDWARE_COMPATIBILITY = ("none", "ampere+")
MAX_REPORTED_PARSER_ERRORS = 5


def build_plan(onnx_path: Path, plan_path: Path, *, input_name: str,
               input_hwc: tuple[int, int, int], batch: tuple[int, int, int],
               workspace_mib: int, timing_cache: Path | None, hardware_compatibility: str,
               version_compatible: bool, log: Callable[[str], None]) -> dict[str, object]:
    """Build `onnx_path` into a TensorRT plan at `plan_path`; return what the build used.

    The input is uint8 [N, H, W, C] with N dynamic over `batch` = (min, opt, max).
    """
    if hardware_compatibility not in HARDWARE_COMPATIBILITY:
        raise errors.InvalidSpec(
            f"engine.hardwareCompatibility is {hardware_compatibility!r}; "
            f"use one of {', '.join(HARDWARE_COMPATIBILITY)}"
        )
    try:
        trt = import_tensorrt()
    except ImportError as exc:
        raise errors.BackendUnavailable(str(exc)) from exc
    trt_log = TensorRtLog(trt, log)
    builder = trt.Builder(trt_log.logger)
    network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED))
    parser = trt.OnnxParser(network, trt_log.logger)
    if not parser.parse_from_file(str(onnx_path)):
        raise _parser_failure(trt, parser, onnx_path)
    _check_input(trt, network, input_name, input_hwc)

    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace_mib << 20)
    profile = builder.create_optimization_profile()
    low, opt, high = batch
    profile.set_shape(input_name, (low, *input_hwc), (opt, *input_hwc), (high, *input_hwc))
    config.add_optimization_profile(profile)
    if hardware_compatibility == "ampere+":
        config.hardware_compatibility_level = trt.HardwareCompatibilityLevel.AMPERE_PLUS
    if version_compatible:
        # The lean runtime stays inside the plan (no EXCLUDE_LEAN_RUNTIME): the point of a
        # version-compatible engine is to load in a later image whose TensorRT differs, and the
        # store keeps no separate lean runtime library to hand to that image.
        config.set_flag(trt.BuilderFlag.VERSION_COMPATIBLE)
    cache_loaded = _attach_timing_cache(config, timing_cache, log)

    log(f"building TensorRT {trt.__version__} engine for batch {low}/{opt}/{high}")
    plan = builder.build_serialized_network(network, config)
    if plan is None:
        raise errors.EngineBuildFailed(
            f"TensorRT could not build {onnx_path.name}: {trt_log.summary()}"
        )
    plan_path.write_bytes(plan)
    cache_saved = _save_timing_cache(config, timing_cache, log)
    return {
        "tensorrt": str(trt.__version__),
        "hardwareCompatibility": hardware_compatibility,
        "versionCompatible": version_compatible,
        "timingCacheLoaded": cache_loaded,
        "timingCacheSaved": cache_saved,
    }


def _parser_failure(trt: Any, parser: Any, onnx_path: Path) -> errors.BuildError:
    """The typed error for a failed parse, listing TensorRT's first errors with their nodes."""
    unsupported_codes = (
        trt.ErrorCode.UNSUPPORTED_NODE,
        trt.ErrorCode.UNSUPPORTED_NODE_ATTR,
        trt.ErrorCode.UNSUPPORTED_NODE_INPUT,
        trt.ErrorCode.UNSUPPORTED_NODE_DATATYPE,
    )
    found = [parser.get_error(i) for i in range(parser.num_errors)]
    lines = [
        f"node {error.node()} {error.node_name()!r} ({error.node_operator()}): {error.desc()}"
        for error in found[:MAX_REPORTED_PARSER_ERRORS]
    ]
    detail = "; ".join(lines) or "the parser reported no error"
    unsupported = [e for e in found if e.code() in unsupported_codes]
    if unsupported:
        operators = sorted({e.node_operator() for e in unsupported})
        return errors.UnsupportedOperator(
            f"TensorRT cannot build operator(s) {', '.join(operators)} in {onnx_path.name}: "
            f"{detail}. Replace them in the model or choose an ONNX Runtime backend"
        )
    # The same graph will fail the same way on every retry: permanent.
    return errors.EngineBuildFailed(
        f"TensorRT's ONNX parser rejected {onnx_path.name}: {detail}", permanent=True
    )


def _check_input(trt: Any, network: Any, input_name: str,
                 input_hwc: tuple[int, int, int]) -> None:
    """The parsed network must take exactly the engine input of the contract."""
    inputs = [network.get_input(i) for i in range(network.num_inputs)]
    names = [t.name for t in inputs]
    if names != [input_name]:
        raise errors.InvalidModel(
            f"the preprocessed model must have the single input {input_name!r}, it has {names}"
        )
    tensor = inputs[0]
    if tensor.dtype != trt.DataType.UINT8:
        raise errors.InvalidModel(f"input {input_name!r} must be uint8, it is {tensor.dtype}")
    shape = tuple(tensor.shape)
    if len(shape) != 4 or shape[0] != -1 or shape[1:] != tuple(input_hwc):
        raise errors.InvalidModel(
            f"input {input_name!r} must be [N, {', '.join(map(str, input_hwc))}] with N "
            f"dynamic, it is {list(shape)}"
        )


def _attach_timing_cache(config: Any, path: Path | None, log: Callable[[str], None]) -> bool:
    """Start from the stored cache when there is one; a stale or foreign cache starts empty.

    Returns whether a stored cache was used. A bad cache must never fail the build: it only
    costs build time. Without a path TensorRT keeps its own cache for this build only.
    """
    if path is None:
        return False
    stored = _read_cache(path, log)
    if stored:
        cache = config.create_timing_cache(stored)
        if cache is not None and config.set_timing_cache(cache, False):
            log(f"timing cache loaded from {path} ({len(stored)} bytes)")
            return True
        log(f"timing cache {path} does not fit this TensorRT or GPU; starting an empty one")
    config.set_timing_cache(config.create_timing_cache(b""), False)
    return False


def _save_timing_cache(config: Any, path: Path | None, log: Callable[[str], None]) -> bool:
    """Merge this build's timings into the stored cache and write it back atomically.

    Builds of other models on the same GPU class may have saved the file since we read it, so
    the current file is re-read and this build's cache combined into it rather than overwriting.
    """
    if path is None:
        return False
    built = config.get_timing_cache()
    merged = built
    current = _read_cache(path, log)
    if current:
        on_disk = config.create_timing_cache(current)
        if on_disk is not None and on_disk.combine(built, False):
            merged = on_disk
    data = bytes(merged.serialize())
    tmp = ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp:
            Path(tmp).unlink(missing_ok=True)
        # The engine is good without it; the next build only takes longer.
        log(f"could not save the timing cache to {path}: {exc}")
        return False
    log(f"timing cache saved to {path} ({len(data)} bytes)")
    return True


def _read_cache(path: Path | None, log: Callable[[str], None]) -> bytes:
    if path is None:
        return b""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""
    except OSError as exc:
        log(f"could not read the timing cache {path}: {exc}")
        return b""

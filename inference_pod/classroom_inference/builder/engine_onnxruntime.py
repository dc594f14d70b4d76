"""The ONNX Runtime "engine": the graph optimized once for its provider and saved as engine.onnx.

CPU engines are saved at the extended level (fusions for the CPU provider; no layout changes, so
the file runs on any x86 or Arm CPU). CUDA engines are saved at the basic level only: constant
folding and redundant-node removal are provider-neutral, and the CUDA provider applies its own
fusions when the pod loads the engine. Optimizing here needs no GPU either way.
"""

from __future__ import annotations

from pathlib import Path

from classroom_inference.builder.errors import BackendUnavailable, EngineBuildFailed

ONNXRUNTIME_BACKENDS = ("onnxruntime-cpu", "onnxruntime-cuda")


def build_onnxruntime_engine(graph_path: Path, engine_path: Path, backend: str) -> dict[str, str]:
    """Optimize `graph_path` for `backend` into `engine_path`. Returns the versions used."""
    if backend not in ONNXRUNTIME_BACKENDS:
        raise ValueError(f"not an ONNX Runtime backend: {backend}")
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise BackendUnavailable(f"onnxruntime is not installed in this image: {exc}") from exc
    options = ort.SessionOptions()
    options.graph_optimization_level = (
        ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED if backend == "onnxruntime-cpu"
        else ort.GraphOptimizationLevel.ORT_ENABLE_BASIC)
    options.optimized_model_filepath = str(engine_path)
    try:
        ort.InferenceSession(str(graph_path), sess_options=options,
                             providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises Fail / InvalidGraph / NotImplemented of its own
        message = str(exc)
        if "NOT_IMPLEMENTED" in message or "Could not find an implementation" in message:
            raise EngineBuildFailed(f"ONNX Runtime has no kernel for an operator: {message}",
                                    reason="UnsupportedOperator", permanent=True) from exc
        raise EngineBuildFailed(f"ONNX Runtime could not optimize the graph: {message}",
                                permanent=True) from exc
    if not engine_path.is_file():
        raise EngineBuildFailed(f"ONNX Runtime did not write {engine_path.name}")
    return {"onnxruntime": ort.__version__}

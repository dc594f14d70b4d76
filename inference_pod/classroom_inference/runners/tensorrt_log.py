"""TensorRT's log, routed to ours and kept, so a failed build or load can say what TensorRT said.

TensorRT reports most failures only through its logger (build_serialized_network and
deserialize_cuda_engine just return None), so the engine builder and the TensorRT runner both
collect errors here and put them into the exception they raise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MAX_KEPT_ERRORS = 20


def import_tensorrt() -> Any:
    """The tensorrt module, or ImportError with the install hint."""
    try:
        import tensorrt as trt
    except ImportError as exc:
        raise ImportError(
            f"tensorrt is not importable ({exc}); TensorRT engines are built and run in the "
            "classroom-inference GPU image, which carries TensorRT"
        ) from exc
    if not hasattr(trt, "Builder"):
        # pip's `tensorrt` placeholder packages import fine but hold no bindings.
        where = getattr(trt, "__file__", None) or list(getattr(trt, "__path__", []))
        raise ImportError(
            f"the tensorrt module at {where} is not TensorRT's Python API (it has no Builder); "
            "TensorRT engines are built and run in the classroom-inference GPU image"
        )
    return trt


class TensorRtLog:
    """The ILogger handed to TensorRT (`logger`) and the errors it has reported so far."""

    def __init__(self, trt: Any, log: Callable[[str], None]) -> None:
        self.errors: list[str] = []
        self.logger = _collecting_logger(trt, log, self.errors)

    def summary(self) -> str:
        """The last few errors, for an exception message."""
        return "; ".join(self.errors[-3:]) or "TensorRT logged no error"


def _collecting_logger(trt: Any, log: Callable[[str], None], errors: list[str]) -> Any:
    """An ILogger forwarding INFO and above to `log` and appending errors to `errors`.

    The class is defined here, not at import, because its base comes from the lazily imported
    tensorrt module. Its only methods are ILogger's own, so every name it defines is TensorRT's.
    """

    class CollectingLogger(trt.ILogger):
        def __init__(self) -> None:
            trt.ILogger.__init__(self)

        def log(self, severity: Any, msg: str) -> None:
            if severity in (trt.ILogger.Severity.INTERNAL_ERROR, trt.ILogger.Severity.ERROR):
                errors.append(msg)
                del errors[:-MAX_KEPT_ERRORS]
                log(f"TensorRT error: {msg}")
            elif severity == trt.ILogger.Severity.WARNING:
                log(f"TensorRT warning: {msg}")
            elif severity == trt.ILogger.Severity.INFO:
                log(f"TensorRT: {msg}")

    return CollectingLogger()

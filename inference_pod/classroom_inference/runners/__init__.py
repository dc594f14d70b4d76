"""Engine runners behind one interface; see `base`."""

from classroom_inference.runners.base import (
    BackendUnavailable,
    BatchRejected,
    EngineInvalid,
    EngineMeta,
    EngineNotFound,
    Runner,
    RunnerError,
    open_runner,
)

__all__ = [
    "BackendUnavailable",
    "BatchRejected",
    "EngineInvalid",
    "EngineMeta",
    "EngineNotFound",
    "Runner",
    "RunnerError",
    "open_runner",
]

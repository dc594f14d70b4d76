"""The builder's typed failures. Each carries the summary's `reason` and whether it is permanent.

A permanent failure (bad input) exits 2 and is not retried until the spec changes; anything else
is transient and left to the Job's backoff (docs/contracts.md, "The build Job").
"""

from __future__ import annotations

from typing import Any

EXIT_PERMANENT = 2
EXIT_TRANSIENT = 1


class BuildError(Exception):
    """A build step failed. `reason` is the CamelCase word the operator shows in conditions."""

    reason = "BuildFailed"
    permanent = False

    def __init__(self, message: str, *, reason: str | None = None,
                 permanent: bool | None = None) -> None:
        super().__init__(message)
        if reason is not None:
            self.reason = reason
        if permanent is not None:
            self.permanent = permanent

    @property
    def exit_code(self) -> int:
        return EXIT_PERMANENT if self.permanent else EXIT_TRANSIENT


class FetchFailed(BuildError):
    """The model or a sample set could not be downloaded (network, 404, timeout)."""

    reason = "FetchFailed"


class TooLarge(BuildError):
    reason = "TooLarge"
    permanent = True


class ChecksumMismatch(BuildError):
    reason = "ChecksumMismatch"
    permanent = True


class InvalidModel(BuildError):
    """Not ONNX, truncated, wrong input rank or size, a mapped output missing."""

    reason = "InvalidModel"
    permanent = True


class UnsupportedOperator(BuildError):
    reason = "UnsupportedOperator"
    permanent = True


class CalibrationFailed(BuildError):
    """int8 calibration set empty, unreadable or of the wrong shape."""

    reason = "CalibrationFailed"
    permanent = True


class ValidationFailed(BuildError):
    """The engine missed the spec's accuracy thresholds; it is kept out of the store.

    `validation` holds the measured figures for the builder summary.
    """

    reason = "ValidationFailed"
    permanent = True

    def __init__(self, message: str, *, validation: dict[str, Any] | None = None,
                 warnings: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.validation = validation
        self.warnings = list(warnings)


class BackendUnavailable(BuildError):
    """The backend's libraries or device are missing on this node (wrong image or node)."""

    reason = "BackendUnavailable"


class EngineBuildFailed(BuildError):
    """The backend's own builder (TensorRT parser/builder, ONNX Runtime) refused the graph."""

    reason = "EngineBuildFailed"


class StoreFailed(BuildError):
    """The engine store is not writable, or is full."""

    reason = "StoreFailed"


class InvalidSpec(BuildError):
    """CLASSROOM_BUILD_SPEC (or --spec) is not JSON, or a field has the wrong type or value."""

    reason = "InvalidSpec"
    permanent = True


class SamplesInvalid(BuildError):
    """The validation sample set is empty, unreadable or not images."""

    reason = "InvalidSamples"
    permanent = True

"""The runner interface: an engine that turns a uint8 batch of face crops into canonical heads.

A runner knows nothing about HTTP, streams or what the heads mean. Every backend (ONNX Runtime
CPU/CUDA, TensorRT, the copy-only ceiling probe) implements `Runner`; `open_runner` picks one from
the engine's meta.json (docs/contracts.md, "Engine store"). Backend modules are imported only when
chosen, so tensorrt / cuda / onnxruntime stay out of processes that never use them.
"""

from __future__ import annotations

import importlib
import json
from abc import ABC, abstractmethod
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HEADS = ("attention", "emotion", "engagement")
BACKENDS = ("tensorrt", "onnxruntime-cuda", "onnxruntime-cpu", "copy-only")

# backend -> (module, class); imported lazily by open_runner.
_IMPLEMENTATIONS: dict[str, tuple[str, str]] = {
    "onnxruntime-cpu": ("classroom_inference.runners.onnxruntime_cpu", "OnnxRuntimeCpuRunner"),
    "onnxruntime-cuda": ("classroom_inference.runners.onnxruntime_cuda", "OnnxRuntimeCudaRunner"),
    "tensorrt": ("classroom_inference.runners.tensorrt", "TensorRtRunner"),
    "copy-only": ("classroom_inference.runners.copy_only", "CopyOnlyRunner"),
}


class RunnerError(Exception):
    """Base of the runner's domain errors."""


class EngineNotFound(RunnerError):
    """The engine folder, its meta.json or its engine file is missing."""


class EngineInvalid(RunnerError):
    """meta.json does not follow the contract, or the engine does not match it."""


class BackendUnavailable(RunnerError):
    """The backend's libraries or device are not present on this node."""


class BatchRejected(RunnerError):
    """A batch whose dtype, shape or size the engine cannot take."""


@dataclass(frozen=True)
class InputSpec:
    name: str
    height: int
    width: int
    channels: int
    dtype: str = "uint8"
    layout: str = "NHWC"

    @property
    def shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one crop."""
        return (self.height, self.width, self.channels)


@dataclass(frozen=True)
class BatchProfile:
    min: int
    opt: int
    max: int

    @property
    def fixed(self) -> bool:
        """Whether the engine takes exactly one batch size (callers pad and mask)."""
        return self.min == self.max


@dataclass(frozen=True)
class EngineMeta:
    """meta.json, parsed. Only what a runner and the pod need is typed; the rest stays in `raw`."""

    fingerprint: str
    backend: str
    engine_file: str
    precision: str
    input: InputSpec
    batch: BatchProfile
    outputs: dict[str, str]
    emotion_labels: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> EngineMeta:
        try:
            inp = doc["input"]
            batch = doc["batch"]
            meta = cls(
                fingerprint=str(doc["fingerprint"]),
                backend=str(doc["backend"]),
                engine_file=str(doc["engineFile"]),
                precision=str(doc.get("precision", "fp32")),
                input=InputSpec(
                    name=str(inp["name"]),
                    height=int(inp["height"]),
                    width=int(inp["width"]),
                    channels=int(inp["channels"]),
                    dtype=str(inp.get("dtype", "uint8")),
                    layout=str(inp.get("layout", "NHWC")),
                ),
                batch=BatchProfile(int(batch["min"]), int(batch["opt"]), int(batch["max"])),
                outputs={str(k): str(v) for k, v in dict(doc["outputs"]).items()},
                emotion_labels=tuple(str(x) for x in doc.get("emotionLabels") or ()),
                raw=doc,
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise EngineInvalid(f"meta.json does not follow the contract: {exc!r}") from exc
        meta.check()
        return meta

    @classmethod
    def from_file(cls, path: Path) -> EngineMeta:
        try:
            doc = json.loads(path.read_text())
        except FileNotFoundError as exc:
            raise EngineNotFound(f"no meta.json at {path}") from exc
        except json.JSONDecodeError as exc:
            raise EngineInvalid(f"{path} is not JSON: {exc}") from exc
        if not isinstance(doc, dict):
            raise EngineInvalid(f"{path} is not a JSON object")
        return cls.from_dict(doc)

    def check(self) -> None:
        if self.input.dtype != "uint8" or self.input.layout != "NHWC":
            raise EngineInvalid(
                f"engine input must be uint8 NHWC, got {self.input.dtype} {self.input.layout}"
            )
        if self.input.channels not in (1, 3) or self.input.height < 1 or self.input.width < 1:
            raise EngineInvalid(f"bad input shape {self.input.shape}")
        if not 1 <= self.batch.min <= self.batch.opt <= self.batch.max:
            raise EngineInvalid(f"bad batch profile {self.batch}")
        unknown = set(self.outputs) - set(HEADS)
        if unknown or not self.outputs:
            raise EngineInvalid(
                f"outputs must be a non-empty subset of {HEADS}, got {self.outputs}"
            )


class Runner(ABC):
    """One engine on one device. Not thread-safe: one caller runs batches one after another."""

    def __init__(self, meta: EngineMeta, engine_path: Path) -> None:
        self.meta = meta
        self.engine_path = engine_path
        self._submitted: deque[dict[str, np.ndarray]] = deque()

    @property
    def backend(self) -> str:
        return self.meta.backend

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one uint8 crop."""
        return self.meta.input.shape

    @property
    def max_batch(self) -> int:
        return self.meta.batch.max

    @property
    def min_batch(self) -> int:
        """Smallest batch the engine takes; smaller batches must be padded by the caller."""
        return self.meta.batch.min

    @property
    def heads(self) -> tuple[str, ...]:
        """The canonical heads this engine gives, in canonical order."""
        return tuple(h for h in HEADS if h in self.meta.outputs)

    @abstractmethod
    def load(self) -> None:
        """Load the engine onto its device. Raises BackendUnavailable / EngineInvalid."""

    def warm_up(self, iterations: int = 3) -> None:
        """Run zero batches at the profile's sizes so the first real batch pays no set-up cost."""
        sizes = sorted({self.min_batch, self.meta.batch.opt, self.max_batch})
        for size in sizes:
            batch = np.zeros((size, *self.input_shape), dtype=np.uint8)
            for _ in range(iterations):
                self.infer(batch)

    @abstractmethod
    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        """Run one batch: uint8 [n, H, W, C] -> {head: array with n rows}, canonical head names.

        The returned arrays are owned by the caller (never views of reused buffers).
        """

    def batch_buffer(self) -> np.ndarray:
        """A uint8 [max_batch, H, W, C] array for the caller to fill with crops and submit (a
        leading slice of it). GPU runners hand out pinned memory, so such a batch is uploaded
        straight from it with no host copy, and read until it is collected: refill a buffer
        only after `collect()` returned its batch. It lives until the runner closes."""
        return np.empty((self.max_batch, *self.input_shape), dtype=np.uint8)

    @property
    def pipeline_depth(self) -> int:
        """How many batches may be submitted before the oldest must be collected."""
        return 1

    def submit(self, batch: np.ndarray) -> None:
        """Start a batch; `collect()` returns results in submission order.

        GPU runners override this pair so the next batch's upload overlaps the current batch's
        compute (submit k+1, then collect k). This default simply runs the batch at once.
        """
        if len(self._submitted) >= self.pipeline_depth:
            raise RunnerError(
                f"{self.pipeline_depth} batch(es) in flight; collect() before submitting more"
            )
        self._submitted.append(self.infer(batch))

    def collect(self) -> dict[str, np.ndarray]:
        """The heads of the oldest submitted batch, waiting for it if needed."""
        if not self._submitted:
            raise RunnerError("collect() called with no batch in flight")
        return self._submitted.popleft()

    @abstractmethod
    def close(self) -> None:
        """Release the engine and its device buffers. Safe to call twice."""

    def check_batch(self, batch: np.ndarray) -> None:
        if batch.dtype != np.uint8:
            raise BatchRejected(f"batch dtype must be uint8, got {batch.dtype}")
        if batch.ndim != 4 or tuple(batch.shape[1:]) != self.input_shape:
            raise BatchRejected(
                f"batch shape must be [n, {', '.join(map(str, self.input_shape))}], "
                f"got {list(batch.shape)}"
            )
        if not self.min_batch <= batch.shape[0] <= self.max_batch:
            raise BatchRejected(
                f"batch size {batch.shape[0]} outside the engine profile "
                f"[{self.min_batch}, {self.max_batch}]"
            )

    def __enter__(self) -> Runner:
        self.load()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def runner_class(backend: str) -> type[Runner]:
    """The implementation of a backend, imported on demand."""
    try:
        module_name, class_name = _IMPLEMENTATIONS[backend]
    except KeyError:
        raise EngineInvalid(f"unknown backend {backend!r}; known: {', '.join(BACKENDS)}") from None
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise BackendUnavailable(f"backend {backend} cannot be imported: {exc}") from exc
    cls: type[Runner] = getattr(module, class_name)
    return cls


def open_runner(engine_dir: Path, backend: str | None = None) -> Runner:
    """The runner for `<store>/<fingerprint>/`, not yet loaded.

    `backend` overrides meta.json's backend: an ONNX engine can run on either ONNX Runtime
    provider, and `copy-only` runs any engine's shapes without the model.
    """
    engine_dir = Path(engine_dir)
    meta = EngineMeta.from_file(engine_dir / "meta.json")
    chosen = backend or meta.backend
    engine_path = engine_dir / meta.engine_file
    if chosen != "copy-only" and not engine_path.is_file():
        raise EngineNotFound(f"engine file {engine_path} is missing")
    if chosen.startswith("onnxruntime") and engine_path.suffix != ".onnx":
        raise EngineInvalid(f"backend {chosen} needs an .onnx engine, got {meta.engine_file}")
    if chosen == "tensorrt" and engine_path.suffix != ".plan":
        raise EngineInvalid(f"backend tensorrt needs a .plan engine, got {meta.engine_file}")
    return runner_class(chosen)(meta, engine_path)

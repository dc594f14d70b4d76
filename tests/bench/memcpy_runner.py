"""A benchmark-only CPU stand-in for the copy-only runner, for machines without a GPU.

`MemcpyStandInRunner` copies each uint8 batch into a scratch buffer, as the upload would move it
to the GPU, and hands back zero heads of the engine's shapes; like the GPU runners it takes two
batches in flight. Run through the pod, it shows what the pod itself costs per crop with no
engine in the way: with small crops (16x16) the copies are negligible and the process's CPU time
per crop is the Python overhead of the hot path. It is not a product backend and is never chosen
by meta.json; nothing may read its heads as labels.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from classroom_inference.runners.base import EngineMeta, Runner
from classroom_inference.runners.copy_only import head_widths

BACKEND = "memcpy-stand-in"


class MemcpyStandInRunner(Runner):
    def __init__(self, meta: EngineMeta, engine_path: Path) -> None:
        super().__init__(meta, engine_path)
        self._uploaded = np.empty(0, np.uint8)
        self._widths: dict[str, int] = {}

    @classmethod
    def for_engine(cls, engine_dir: Path) -> MemcpyStandInRunner:
        meta = EngineMeta.from_file(engine_dir / "meta.json")
        return cls(meta, engine_dir / meta.engine_file)

    @property
    def pipeline_depth(self) -> int:
        return 2

    def load(self) -> None:
        self._widths = head_widths(self.meta)
        self._uploaded = np.empty((self.max_batch, *self.input_shape), np.uint8)

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        self.check_batch(batch)
        np.copyto(self._uploaded[: len(batch)], batch)
        return {head: np.zeros((len(batch), self._widths[head]), np.float32)
                for head in self.heads}

    def close(self) -> None:
        self._uploaded = np.empty(0, np.uint8)

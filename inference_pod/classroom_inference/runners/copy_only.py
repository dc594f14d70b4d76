"""The pod's ceiling probe: every batch goes to the GPU and heads come back, with no model between.

It runs the same pipeline as the real GPU runners (pinned slots, async copies, two streams), so
the crops/s the pod reaches with it is the most it could ever feed any engine. Its heads are zeros
of the engine's shapes; nothing may read them as labels.
"""

from __future__ import annotations

import numpy as np

from classroom_inference.runners.base import EngineInvalid, EngineMeta
from classroom_inference.runners.cuda_memory import Cuda
from classroom_inference.runners.gpu_pipeline import GpuPipelineRunner, HeadOutput, Slot


def head_widths(meta: EngineMeta) -> dict[str, int]:
    """Values per crop of each head, from meta.json alone (the engine is never opened)."""
    widths = {}
    for head in meta.outputs:
        if head == "emotion":
            if not meta.emotion_labels:
                raise EngineInvalid(
                    "meta.json maps an emotion output but lists no emotionLabels; the copy-only "
                    "runner needs them to size the emotion head"
                )
            widths[head] = len(meta.emotion_labels)
        else:
            widths[head] = 1
    return widths


class CopyOnlyRunner(GpuPipelineRunner):
    def load(self) -> None:
        widths = head_widths(self.meta)
        cuda = Cuda.load()
        outputs = [
            HeadOutput(head, self.meta.outputs[head], widths[head], np.dtype(np.float32))
            for head in self.heads
        ]
        self.open_pipeline(cuda, outputs)
        # Zeroed once: the heads every batch downloads are these zeros.
        for slot in self.slots:
            cuda.zero_device(slot.device_output.ptr, slot.output_bytes, self.compute_stream)
        self.compute_stream.synchronize()

    def enqueue(self, slot_index: int, slot: Slot, rows: int) -> None:
        """No engine: the upload and the download are the whole cost being measured."""

    def close(self) -> None:
        self.close_pipeline()

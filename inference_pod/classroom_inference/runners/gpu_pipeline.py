"""Double-buffered batches on the GPU, shared by the TensorRT, ONNX Runtime CUDA and copy-only
runners.

Each of two slots owns a pinned host input, a device input, and one device and one pinned host
block holding every head (each head's rows at its own offset), so a batch's heads come back in
one download. `submit()` writes the crops into the next slot's pinned input, queues its upload on
the copy stream, and queues the engine and the download of its heads on the compute stream behind
an event, then returns at once. So while the GPU computes batch k, the host is already filling and
uploading batch k+1: the copy engine and the SMs work at the same time, which is where the pod wins
back the bus time that dominates small models.

A slot is reused only after its batch was collected, and batches are collected in the order they
were submitted; that alone keeps host buffers, device buffers and outputs from being overwritten
while in use, without any further synchronisation.

Copying a full batch into the slot costs the host about as much as the upload itself (one core
copies a few GB/s; the bus moves tens), so callers that can fill `batch_buffer()` (pinned) get
their batch uploaded straight from it. Such a submit() returns at once, with the upload queued
behind the previous one: the copy engine moves batch after batch with no gap while the host
waits for neither, and the caller refills that buffer only once the batch is collected.

Every CUDA call through cuda-python lets go of the GIL and must take it back, which under a busy
pod can wait for other threads' Python work: a batch makes as few calls as it can (one upload,
one download, three event calls).

An engine whose state belongs to the thread that runs it (`own_thread`) has the compute stream's
part of every batch queued from one engine thread (engine_thread.py); the caller still queues the
upload, so it overlaps the engine's work on the previous batch.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from classroom_inference.runners.base import EngineInvalid, EngineMeta, Runner, RunnerError
from classroom_inference.runners.cuda_memory import (
    Cuda,
    DeviceBuffer,
    Event,
    HostBuffer,
    Stream,
)
from classroom_inference.runners.engine_thread import EngineThread

SLOTS = 2
# Each head's rows start on this boundary in the slot's output block (engines want aligned
# tensors; 256 bytes is what cudaMalloc itself guarantees).
ALIGN = 256
T = TypeVar("T")


@dataclass(frozen=True)
class HeadOutput:
    """One engine output: canonical head, the engine's tensor name, values per crop, dtype."""

    head: str
    tensor: str
    width: int
    dtype: np.dtype[Any]

    def nbytes(self, rows: int) -> int:
        return rows * self.width * self.dtype.itemsize


@dataclass(frozen=True)
class OutputRegion:
    """Where one head's rows live inside a slot's output block."""

    ptr: int
    offset: int


class Slot:
    """The buffers and events of one batch in flight."""

    def __init__(self, cuda: Cuda, *, input_bytes: int, outputs: list[HeadOutput],
                 max_batch: int, pinned: bool) -> None:
        self.host_input = HostBuffer(cuda, input_bytes, pinned=pinned)
        self.device_input = DeviceBuffer(cuda, input_bytes)
        offsets, end = {}, 0
        for out in outputs:
            offsets[out.head] = end
            end += -(-out.nbytes(max_batch) // ALIGN) * ALIGN
        self.output_bytes = max(end, 1)
        self.host_output = HostBuffer(cuda, self.output_bytes)
        self.device_output = DeviceBuffer(cuda, self.output_bytes)
        self.device_outputs = {head: OutputRegion(self.device_output.ptr + offset, offset)
                               for head, offset in offsets.items()}
        self.uploaded = Event(cuda)
        self.done = Event(cuda)
        self.rows = 0
        self.queued: Future[None] | None = None  # its engine work, when on an engine thread

    def release(self) -> None:
        self.host_input.free()
        self.host_output.free()
        self.device_input.free()
        self.device_output.free()
        self.uploaded.destroy()
        self.done.destroy()


class GpuPipelineRunner(Runner):
    """A runner whose batches move through pinned slots and two streams; subclasses add the engine.

    `pinned=False` uploads straight from the caller's (pageable) array instead; it exists so the
    benchmark can show what pinned buffers are worth, not for serving.
    """

    own_thread = False  # whether the engine must always run on the same thread

    def __init__(self, meta: EngineMeta, engine_path: Path, *, pinned: bool = True) -> None:
        super().__init__(meta, engine_path)
        self.pinned = pinned
        self._cuda: Cuda | None = None
        self._outputs: list[HeadOutput] = []
        self._slots: list[Slot] = []
        self._next_slot = 0
        self._in_flight: deque[Slot] = deque()
        self._copy_stream: Stream | None = None
        self._compute_stream: Stream | None = None
        self._batch_buffers: list[HostBuffer] = []
        self._engine_thread: EngineThread | None = None

    @property
    def pipeline_depth(self) -> int:
        return SLOTS

    @property
    def compute_stream(self) -> Stream:
        if self._compute_stream is None:
            raise EngineInvalid("runner is not loaded")
        return self._compute_stream

    def open_streams(self, cuda: Cuda) -> None:
        """Create the copy and compute streams; engines that must know theirs call it early."""
        if self._compute_stream is None:
            self._cuda = cuda
            self._copy_stream = Stream(cuda)
            self._compute_stream = Stream(cuda)
        if self.own_thread and self._engine_thread is None:
            self._engine_thread = EngineThread(f"engine-{self.backend}")

    def open_pipeline(self, cuda: Cuda, outputs: list[HeadOutput]) -> None:
        """Allocate streams and slots for batches up to the profile's max. Called by load()."""
        self.open_streams(cuda)
        self._outputs = outputs
        input_bytes = self.max_batch * int(np.prod(self.input_shape))
        self._slots = [
            Slot(cuda, input_bytes=input_bytes, outputs=outputs, max_batch=self.max_batch,
                 pinned=self.pinned)
            for _ in range(SLOTS)
        ]

    @property
    def slots(self) -> list[Slot]:
        return self._slots

    def batch_buffer(self) -> np.ndarray:
        if self._cuda is None:
            raise EngineInvalid("runner is not loaded")
        shape = (self.max_batch, *self.input_shape)
        if not self.pinned:
            return np.empty(shape, dtype=np.uint8)
        buffer = HostBuffer(self._cuda, int(np.prod(shape)))
        self._batch_buffers.append(buffer)
        return buffer.view(np.dtype(np.uint8), shape)

    def _in_batch_buffer(self, batch: np.ndarray) -> bool:
        """Whether `batch` is contiguous memory inside one of our pinned batch buffers."""
        if not batch.flags.c_contiguous:
            return False
        start = int(batch.ctypes.data)
        return any(b.ptr <= start and start + batch.nbytes <= b.ptr + b.nbytes
                   for b in self._batch_buffers)

    @abstractmethod
    def enqueue(self, slot_index: int, slot: Slot, rows: int) -> None:
        """Queue the engine on the compute stream: read slot.device_input, write device_outputs.
        With `own_thread`, always called on the engine thread."""

    def on_engine_thread(self, work: Callable[[], T]) -> T:
        """Run `work` where the engine runs (its own thread, or right here), and wait for it."""
        if self._engine_thread is None:
            return work()
        return self._engine_thread.call(work)

    def submit(self, batch: np.ndarray) -> None:
        if self._cuda is None or self._copy_stream is None or self._compute_stream is None:
            raise EngineInvalid("runner is not loaded")
        self.check_batch(batch)
        if len(self._in_flight) >= SLOTS:
            raise RunnerError(f"{SLOTS} batches are in flight; collect() one before submitting")
        index = self._next_slot
        slot = self._slots[index]
        self._next_slot = (index + 1) % SLOTS
        rows = batch.shape[0]
        direct = self._in_batch_buffer(batch)
        if direct:
            source = int(batch.ctypes.data)
        elif self.pinned:
            np.copyto(slot.host_input.view(np.dtype(np.uint8), batch.shape), batch)
            source = slot.host_input.ptr
        else:
            # From pageable memory the driver stages the bytes before the call returns, so the
            # caller's array may be reused as soon as submit() returns.
            pageable = np.ascontiguousarray(batch)
            source = int(pageable.ctypes.data)
        self._cuda.copy_to_device(slot.device_input.ptr, source, batch.nbytes, self._copy_stream)
        slot.uploaded.record(self._copy_stream)
        slot.rows = rows
        if self._engine_thread is None:
            self._compute(index, slot, rows)
        else:
            slot.queued = self._engine_thread.post(lambda: self._compute(index, slot, rows))
        self._in_flight.append(slot)

    def _compute(self, index: int, slot: Slot, rows: int) -> None:
        """The compute stream's part of a batch: after its upload, the engine, then the heads
        of every row the engine may have written, in one download."""
        assert self._cuda is not None and self._compute_stream is not None
        self._compute_stream.wait(slot.uploaded)
        self.enqueue(index, slot, rows)
        self._cuda.copy_to_host(slot.host_output.ptr, slot.device_output.ptr, slot.output_bytes,
                                self._compute_stream)
        slot.done.record(self._compute_stream)

    def collect(self) -> dict[str, np.ndarray]:
        if not self._in_flight:
            raise RunnerError("collect() called with no batch in flight")
        slot = self._in_flight.popleft()
        queued, slot.queued = slot.queued, None
        if queued is not None:
            queued.result()  # queued on the compute stream, or the engine's error
        slot.done.synchronize()
        result = {
            out.head: slot.host_output.view(out.dtype, (slot.rows, out.width),
                                            offset=slot.device_outputs[out.head].offset)
            .astype(np.float32, copy=True)
            for out in self._outputs
        }
        slot.rows = 0
        return result

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        if self._in_flight:
            raise RunnerError("infer() while batches are in flight; collect() them first")
        self.submit(batch)
        return self.collect()

    def synchronize(self) -> None:
        """Wait until everything submitted has been queued and has run on both streams."""
        if self._engine_thread is not None:
            self._engine_thread.call(lambda: None)
        for stream in (self._copy_stream, self._compute_stream):
            if stream is not None:
                stream.synchronize()

    def close_pipeline(self) -> None:
        """Wait for the GPU, then free slots and streams. Safe to call twice.

        Engines release their own state between synchronize() and this, so nothing of theirs
        can still point at a buffer or stream when it is freed.
        """
        self.synchronize()
        if self._engine_thread is not None:
            self._engine_thread.close()
            self._engine_thread = None
        for slot in self._slots:
            slot.release()
        self._slots = []
        for buffer in self._batch_buffers:
            buffer.free()
        self._batch_buffers = []
        self._in_flight.clear()
        for stream in (self._copy_stream, self._compute_stream):
            if stream is not None:
                stream.destroy()
        self._copy_stream = self._compute_stream = None
        self._cuda = None

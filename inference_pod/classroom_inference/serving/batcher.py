"""The dynamic batcher: crops from every stream in, engine-sized uint8 batches out, in order.

It knows nothing about what the heads mean. Crops wait in arrival order; a batch leaves when it
is full (the engine profile's max) or when its oldest crop has waited `max_delay`. Each student
holds at most `slots_per_student` crops: when one lags, its oldest crop is dropped, so memory stays
bounded and the others are never delayed by it. Crops are copied once, straight into one of two
reused batch buffers (the runner's own, e.g. pinned, when it offers `input_buffer`), by a fill
thread while the runner thread computes the batch before: gathering overlaps inference, and the
event loop never waits on either. Where the engine takes a fixed batch, the tail is padded and its
outputs masked.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from classroom_inference.runners.base import Runner
from classroom_inference.serving.frames import Crop

log = logging.getLogger(__name__)

BUFFERS = 2


class InputBuffers(Protocol):
    """A runner that gives the batch buffers to fill (pinned host memory, say)."""

    def input_buffer(self, size: int) -> np.ndarray:
        """A new uint8 [size, H, W, C] buffer; `infer` takes leading slices of it."""
        ...


@dataclass(frozen=True)
class Batch:
    """One batch's result, in crop order: no pixels, only who, when, and the heads."""

    keys: list[tuple[str, str]]  # (stream id, seat)
    arrived: np.ndarray  # monotonic time each crop left its decoder
    outputs: dict[str, np.ndarray]  # head -> [n, ...], padding already masked off
    queued: np.ndarray  # seconds each crop waited in the batcher
    infer_seconds: float
    done: float  # monotonic time the outputs were ready


@dataclass
class BatcherStats:
    accepted: int = 0
    dropped_lagging: int = 0
    dropped_closed: int = 0
    rejected_shape: int = 0
    batches: int = 0
    crops: int = 0
    failed_batches: int = 0
    consecutive_failures: int = 0
    last_error: str | None = None


class Batcher:
    def __init__(
        self,
        runner: Runner,
        on_batch: Callable[[Batch], None],
        *,
        max_delay: float = 0.01,
        slots_per_student: int = 2,
        on_drop: Callable[[Crop, str], None] | None = None,
    ) -> None:
        if slots_per_student < 1:
            raise ValueError("slots_per_student must be at least 1")
        self.runner = runner
        self.max_batch = runner.max_batch
        self.max_delay = max_delay
        self.slots_per_student = slots_per_student
        self.stats = BatcherStats()
        self._on_batch = on_batch
        self._on_drop = on_drop
        self._shape = runner.input_shape
        self._pending: OrderedDict[int, tuple[Crop, float]] = OrderedDict()
        self._per_student: dict[tuple[str, str], deque[int]] = {}
        self._seq = 0
        self._closed = False
        self._wake = asyncio.Event()
        provider = getattr(runner, "input_buffer", None)
        self._buffers: list[np.ndarray] = [
            provider(self.max_batch) if provider else
            np.empty((self.max_batch, *self._shape), dtype=np.uint8)
            for _ in range(BUFFERS)
        ]
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for index in range(BUFFERS):
            self._free.put_nowait(index)
        self._fill_thread = ThreadPoolExecutor(1, thread_name_prefix="batch-fill")
        self._infer_thread = ThreadPoolExecutor(1, thread_name_prefix="batch-infer")
        self._previous: asyncio.Future[None] | None = None

    @property
    def depth(self) -> int:
        """Crops waiting for a batch."""
        return len(self._pending)

    # --- intake (event loop) ----------------------------------------------------------------

    def put(self, crop: Crop) -> bool:
        """Queue a crop; False when it was refused (closed, or not the engine's shape)."""
        if self._closed:
            self.stats.dropped_closed += 1
            self._dropped(crop, "draining")
            return False
        image = crop.image
        if image.dtype != np.uint8 or image.shape != self._shape:
            self.stats.rejected_shape += 1
            self._dropped(crop, "shape")
            return False
        seq = self._seq
        self._seq += 1
        self._pending[seq] = (crop, time.monotonic())
        key = (crop.stream_id, crop.seat)
        slots = self._per_student.get(key)
        if slots is None:
            slots = self._per_student[key] = deque()
        slots.append(seq)
        self.stats.accepted += 1
        if len(slots) > self.slots_per_student:
            oldest, _ = self._pending.pop(slots.popleft())
            self.stats.dropped_lagging += 1
            self._dropped(oldest, "lagging")
        if len(self._pending) == 1 or len(self._pending) >= self.max_batch:
            self._wake.set()
        return True

    def _dropped(self, crop: Crop, reason: str) -> None:
        if self._on_drop is not None:
            self._on_drop(crop, reason)

    def _take(self, count: int) -> list[tuple[Crop, float]]:
        taken = []
        for _ in range(min(count, len(self._pending))):
            _, (crop, queued_at) = self._pending.popitem(last=False)
            key = (crop.stream_id, crop.seat)
            slots = self._per_student[key]
            slots.popleft()  # arrival order: a student's oldest pending crop is this one
            if not slots:
                del self._per_student[key]
            taken.append((crop, queued_at))
        return taken

    # --- batches --------------------------------------------------------------------------

    async def _batch_due(self) -> None:
        """Returns when a batch should leave: full, its oldest crop waited max_delay, or closing."""
        while True:
            pending = len(self._pending)
            if pending >= self.max_batch or (self._closed and pending):
                return
            timeout: float | None = None
            if pending:
                _, (_, queued_at) = next(iter(self._pending.items()))
                timeout = queued_at + self.max_delay - time.monotonic()
                if timeout <= 0:
                    return
            elif self._closed:
                return
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                return

    async def run(self) -> None:
        """Forms and runs batches until `close()`, then finishes everything already queued."""
        in_flight: set[asyncio.Task[None]] = set()
        try:
            while True:
                await self._batch_due()
                if not self._pending:
                    break  # closed and empty
                buffer = await self._free.get()
                # Taken only now, with a buffer in hand: crops that arrived while the runner was
                # busy join this batch, up to the engine's max.
                task = asyncio.create_task(self._run_batch(buffer, self._take(self.max_batch)))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            if in_flight:
                await asyncio.gather(*in_flight)
        finally:
            for task in in_flight:
                task.cancel()
            self._fill_thread.shutdown(wait=True)
            self._infer_thread.shutdown(wait=True)

    async def _run_batch(self, index: int, taken: list[tuple[Crop, float]]) -> None:
        previous = self._previous
        ordered: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._previous = ordered
        released = False
        try:
            taken_at = time.monotonic()
            keys = [(c.stream_id, c.seat) for c, _ in taken]
            arrived = np.fromiter((c.arrived for c, _ in taken), np.float64, len(taken))
            queued = taken_at - np.fromiter((q for _, q in taken), np.float64, len(taken))
            images = [c.image for c, _ in taken]
            del taken  # pixels live on only in the batch buffer
            loop = asyncio.get_running_loop()
            rows = await loop.run_in_executor(self._fill_thread, self._fill, index, images)
            del images
            outputs, seconds = await loop.run_in_executor(
                self._infer_thread, self._infer, index, rows)
            released = True
            self._free.put_nowait(index)
            if previous is not None:
                await previous  # results reach the analysis in the order batches were formed
            if outputs is not None:
                self.stats.batches += 1
                self.stats.crops += len(keys)
                self._on_batch(Batch(keys, arrived, {h: v[: len(keys)] for h, v in
                                                     outputs.items()}, queued, seconds,
                                     time.monotonic()))
        finally:
            if not released:
                self._free.put_nowait(index)
            ordered.set_result(None)

    def _fill(self, index: int, images: list[np.ndarray]) -> int:
        buffer = self._buffers[index]
        np.stack(images, out=buffer[: len(images)])
        # Padded rows keep whatever an earlier batch left there: rows are independent in the
        # engine and their outputs are cut off, so zeroing them would only cost time.
        return max(len(images), self.runner.min_batch)

    def _infer(self, index: int, rows: int) -> tuple[dict[str, np.ndarray] | None, float]:
        start = time.perf_counter()
        try:
            outputs = self.runner.infer(self._buffers[index][:rows])
        except Exception as exc:  # whatever the engine raises costs this batch, not the pod
            self._failed(exc, rows)
            return None, time.perf_counter() - start
        self.stats.consecutive_failures = 0
        return outputs, time.perf_counter() - start

    def _failed(self, exc: Exception, rows: int) -> None:
        self.stats.failed_batches += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.error("batch of %d crops failed in the engine: %s", rows, exc)

    def close(self) -> None:
        """Stop intake; `run()` finishes the queued crops and the batches in flight, then ends."""
        self._closed = True
        self._wake.set()

"""The dynamic batcher: crops from every stream in, engine-sized uint8 batches out, in order.

It knows nothing about what the heads mean. Crops wait in arrival order; a batch leaves when it
is full (the engine profile's max), or when its oldest crop has waited `max_delay` and the
engine is free to take it. Each student
holds at most `slots_per_student` crops: when one lags, its oldest crop is dropped, so memory stays
bounded and the others are never delayed by it. Where the engine takes a fixed batch, the tail is
padded and its outputs masked.

Three threads of work, so that the event loop never waits on pixels or the engine:
- the loop gathers crops and decides when a batch leaves;
- a fill thread copies the batch's crops, once, into one of two reused uint8 buffers that the
  runner handed out (`Runner.batch_buffer`: pinned memory on a GPU, uploaded straight from there;
  plain memory the CPU runner reads in place);
- an engine thread submits batches to the runner and collects them in order. A GPU runner with a
  pipeline depth of 2 uploads batch k+1 while batch k computes; `Runner.submit` returns once the
  buffer may be reused, so the fill thread is already writing the next batch meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from classroom_inference.runners.base import Runner
from classroom_inference.serving.frames import Crop

log = logging.getLogger(__name__)

BUFFERS = 2


@dataclass(frozen=True)
class Batch:
    """One batch's result, in crop order: no pixels, only who, when, and the heads."""

    keys: list[tuple[str, str]]  # (stream id, seat)
    arrived: np.ndarray  # monotonic time each crop left its decoder
    outputs: dict[str, np.ndarray]  # head -> [n, ...], padding already masked off
    queued: np.ndarray  # seconds each crop waited in the batcher
    infer_seconds: float  # submit to collect
    done: float  # monotonic time the outputs were ready


@dataclass(frozen=True)
class _Job:
    index: int  # which batch buffer holds its crops
    keys: list[tuple[str, str]]
    arrived: np.ndarray
    queued: np.ndarray
    rows: int  # crops plus padding up to the engine's min batch


@dataclass
class BatcherStats:
    dropped: Counter[str] = field(default_factory=Counter)  # lagging, draining, shape
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
        # The runner's own buffers: pinned on a GPU, so a batch is uploaded straight from them.
        self._buffers = [runner.batch_buffer() for _ in range(BUFFERS)]
        self._free: asyncio.Queue[int] = asyncio.Queue()
        for index in range(BUFFERS):
            self._free.put_nowait(index)
        self._fill_thread = ThreadPoolExecutor(1, thread_name_prefix="batch-fill")
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._depth = max(1, runner.pipeline_depth)
        self._in_engine = 0  # batches formed and not yet back from the engine

    @property
    def depth(self) -> int:
        """Crops waiting for a batch."""
        return len(self._pending)

    # --- intake (event loop) ----------------------------------------------------------------

    def put(self, crop: Crop) -> bool:
        """Queue a crop; False when it was refused (closed, or not the engine's shape)."""
        if self._closed:
            self._dropped(crop, "draining")
            return False
        image = crop.image
        if image.dtype != np.uint8 or image.shape != self._shape:
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
        if len(slots) > self.slots_per_student:
            oldest, _ = self._pending.pop(slots.popleft())
            self._dropped(oldest, "lagging")
        if len(self._pending) == 1 or len(self._pending) >= self.max_batch:
            self._wake.set()
        return True

    def _dropped(self, crop: Crop, reason: str) -> None:
        self.stats.dropped[reason] += 1
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

    # --- batches ---------------------------------------------------------------------------

    async def _batch_due(self) -> None:
        """Returns when a batch should leave: when it is full; when its oldest crop has waited
        max_delay and the engine can take it now; or when closing.

        A partial batch that the engine could not start anyway is held back: the crops arriving
        meanwhile join it, so a busy engine gets full batches instead of alternating full and
        small ones.
        """
        while True:
            pending = len(self._pending)
            if pending >= self.max_batch or (self._closed and pending):
                return
            timeout: float | None = None
            if pending:
                _, (_, queued_at) = next(iter(self._pending.items()))
                left = queued_at + self.max_delay - time.monotonic()
                if left <= 0 and self._in_engine < self._depth:
                    return
                timeout = left if left > 0 else None  # overdue: until the engine frees up
            elif self._closed:
                return
            self._wake.clear()
            try:
                async with asyncio.timeout(timeout):
                    await self._wake.wait()
            except TimeoutError:
                continue

    async def run(self) -> None:
        """Forms and runs batches until `close()`, then finishes everything already queued."""
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        engine = threading.Thread(target=self._engine_loop, args=(loop, finished),
                                  name="batch-engine", daemon=True)
        engine.start()
        try:
            while True:
                await self._batch_due()
                if not self._pending:
                    break  # closed and empty
                index = await self._free.get()
                # Taken only now, with a buffer in hand: crops that arrived while the engine was
                # busy join this batch, up to the engine's max.
                taken = self._take(self.max_batch)
                now = time.monotonic()
                job = _Job(
                    index=index,
                    keys=[(c.stream_id, c.seat) for c, _ in taken],
                    arrived=np.fromiter((c.arrived for c, _ in taken), np.float64, len(taken)),
                    queued=now - np.fromiter((q for _, q in taken), np.float64, len(taken)),
                    rows=max(len(taken), self.runner.min_batch),
                )
                self._in_engine += 1
                self._fill_thread.submit(self._fill, job, [c.image for c, _ in taken])
                del taken  # pixels live on only in the batch buffer
        finally:
            self._fill_thread.submit(self._jobs.put, None)
            await finished
            self._fill_thread.shutdown(wait=True)

    def _fill(self, job: _Job, images: list[np.ndarray]) -> None:
        buffer = self._buffers[job.index]
        np.stack(images, out=buffer[: len(images)])
        # Padded rows keep whatever an earlier batch left there: rows are independent in the
        # engine and their outputs are cut off, so zeroing them would only cost time.
        self._jobs.put(job)

    def _engine_loop(self, loop: asyncio.AbstractEventLoop,
                     finished: asyncio.Future[None]) -> None:
        depth = self._depth
        in_flight: deque[tuple[_Job, float]] = deque()
        closing = False
        try:
            while in_flight or not closing:
                # Collect when the pipeline is full, or when nothing is ready to overlap with it.
                if in_flight and (closing or len(in_flight) >= depth or self._jobs.empty()):
                    job, started = in_flight.popleft()
                    try:
                        outputs = self.runner.collect()
                    except Exception as exc:  # the engine's failure costs this batch, not the pod
                        self._failed(job, exc)
                        loop.call_soon_threadsafe(self._engine_done)
                        continue
                    loop.call_soon_threadsafe(self._deliver, job, outputs,
                                              time.perf_counter() - started)
                    continue
                filled = self._jobs.get()
                if filled is None:
                    closing = True
                    continue
                started = time.perf_counter()
                try:
                    self.runner.submit(self._buffers[filled.index][: filled.rows])
                    in_flight.append((filled, started))
                except Exception as exc:
                    self._failed(filled, exc)
                    loop.call_soon_threadsafe(self._engine_done)
                finally:  # submit() returns once the buffer may be filled again
                    loop.call_soon_threadsafe(self._free.put_nowait, filled.index)
        finally:
            loop.call_soon_threadsafe(finished.set_result, None)

    def _failed(self, job: _Job, exc: Exception) -> None:
        self.stats.failed_batches += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        log.error("batch of %d crops failed in the engine: %s", len(job.keys), exc)

    def _engine_done(self) -> None:
        self._in_engine -= 1
        self._wake.set()

    def _deliver(self, job: _Job, outputs: dict[str, np.ndarray], seconds: float) -> None:
        self._engine_done()
        self.stats.consecutive_failures = 0
        self.stats.batches += 1
        self.stats.crops += len(job.keys)
        n = len(job.keys)
        self._on_batch(Batch(job.keys, job.arrived, {h: v[:n] for h, v in outputs.items()},
                             job.queued, seconds, time.monotonic()))

    def close(self) -> None:
        """Stop intake; `run()` finishes the queued crops and the batches in flight, then ends."""
        self._closed = True
        self._wake.set()

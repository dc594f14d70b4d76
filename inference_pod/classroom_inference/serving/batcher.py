"""The dynamic batcher: crops from every stream written straight into engine-sized uint8 batches.

It knows nothing about what the heads mean, and nothing of it runs per crop on the event loop.

Intake. A producer (a stream's decoding thread, or a bulk producer such as the synthetic clock)
`reserve()`s a row of the batch being filled, writes the resized crop into that row itself
(cv2.resize with dst= releases the GIL and makes no extra copy) and `commit()`s it. The batch
buffers are the runner's own (`Runner.batch_buffer`: pinned memory on a GPU, uploaded from there
with no host copy), and a crop's metadata (student id, frame arrival, time written) goes into
preallocated numpy arrays beside them. `put_many()` does the same for many crops in one locked
step and one vectorised copy. The lock is held only for the bookkeeping, never while pixels move,
so producers on many cores write at once; the GIL-held work is a few microseconds a crop.

Dispatch. One thread sends a batch when it is full, or when its oldest crop has waited
`max_delay` and the engine can take it now; a partial batch the engine could not start anyway is
held back, so crops arriving meanwhile join it and a busy engine gets full batches. It submits
batch k+1 before collecting batch k (the runner's pipeline depth), so on a GPU the uploads run
back to back and overlap the compute; a buffer goes back to the producers once its batch is
collected. Results reach the event loop once per batch, never per crop, handed over in bulk
(handoff.py): one wake-up of the loop for all the batches finished while it was busy.

Bounds. Memory is the runner's few batch buffers, whatever the load: when all are full (the engine
is behind), new crops are refused and counted ("backlog"). A student has at most one crop in the
batch being filled: a newer crop of a lagging student takes its older one's row, in place, and
the older frame is dropped ("lagging"). So the engine never spends a row on a frame already
superseded, and a student's crops in a batch stay in time order. Where the engine takes a fixed
batch, the tail is padded (rows hold whatever an earlier batch left; their heads are cut off).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

from classroom_inference.runners.base import Runner
from classroom_inference.serving.handoff import Handoff

log = logging.getLogger(__name__)

# Beyond the batches in the engine: buffers being filled and full ones waiting for the engine.
# Bulk producers copy a tick's crops for milliseconds, several ticks at once on a busy pod, and
# a buffer goes to the engine only once every row is written: with too few, the engine waits on
# the copies (measured on an H200 node, copy-only pod: the dispatcher waited 65% of the time
# with 3 spares).
SPARE_BUFFERS = 6
NO_ROW = -1


@dataclass(frozen=True)
class Batch:
    """One batch's result, in crop order: no pixels, only who, when, and the heads."""

    students: np.ndarray  # int64 student ids (serving/students.py)
    arrived: np.ndarray  # monotonic time each crop's frame left its decoder
    written: np.ndarray  # monotonic time each crop was in the batch buffer
    submitted: float  # monotonic time the batch went to the engine
    outputs: dict[str, np.ndarray]  # head -> [n, ...], padding rows cut off
    infer_seconds: float  # submit to collect
    done: float  # monotonic time the outputs were ready (collected, before the event loop)


class BatchFill:
    """One batch buffer and its crops' metadata. A producer writes `images[row]` for a row it
    reserved, and nothing else."""

    def __init__(self, index: int, images: np.ndarray) -> None:
        size = images.shape[0]
        self.index = index
        self.images = images
        self.students = np.zeros(size, np.int64)
        self.arrived = np.zeros(size)
        self.written = np.zeros(size)
        self.rows = 0
        self.writers = 0  # rows reserved and not yet committed
        self.sealed = False  # no more rows: full, or taken by the dispatcher
        self.opened = 0.0  # when its first row was reserved

    def reset(self, now: float) -> None:
        self.rows = self.writers = 0
        self.sealed = False
        self.opened = now


@dataclass(eq=False)
class _Job:
    """A batch from the moment it leaves the buffer until its heads reach the event loop."""

    students: np.ndarray
    arrived: np.ndarray
    written: np.ndarray
    rows: int  # crops plus padding up to the engine's min batch
    fill: BatchFill  # its buffer, read by the engine until the batch is collected
    submitted: float = 0.0
    started: float = 0.0


@dataclass
class BatcherStats:
    dropped: Counter[str] = field(default_factory=Counter)  # lagging, backlog, draining, shape
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
    ) -> None:
        self.runner = runner
        self.max_batch = runner.max_batch
        self.max_delay = max_delay
        self.stats = BatcherStats()
        self._on_batch = on_batch
        self._shape = runner.input_shape
        self._depth = max(1, runner.pipeline_depth)
        self.buffers = self._depth + SPARE_BUFFERS
        self._fills = [BatchFill(i, runner.batch_buffer()) for i in range(self.buffers)]
        self._free = list(reversed(self._fills))
        self._filling: BatchFill | None = None
        self._ready: deque[BatchFill] = deque()  # sealed, oldest first
        self._jobs: set[_Job] = set()  # taken from a buffer, heads not yet delivered
        self._row_in_filling = np.full(256, NO_ROW, np.int64)  # per student
        self._closed = False
        self._running = False
        self._cond = threading.Condition(threading.Lock())

    @property
    def depth(self) -> int:
        """Crops waiting for the engine."""
        with self._cond:
            return sum(f.rows for f in self._unsent())

    # --- intake (any thread) ----------------------------------------------------------------

    def reserve(self, student: int, arrived: float) -> tuple[BatchFill, int] | None:
        """A row for one crop: write `fill.images[row]`, then `commit(fill, row)`. None when the
        crop is refused (draining, or every buffer full). A student's crops come from one
        thread, one after another, so the row its older crop had is free to write again."""
        with self._cond:
            if self._closed:
                self.stats.dropped["draining"] += 1
                return None
            fill = self._filling or self._open(1)
            if fill is None:
                return None
            if student >= self._row_in_filling.size:
                self._grow(student)
            row = int(self._row_in_filling[student])
            if row != NO_ROW:  # a newer frame of a lagging student: it takes the older's row
                self.stats.dropped["lagging"] += 1
                fill.writers += 1
                fill.arrived[row] = arrived
                return fill, row
            row = fill.rows
            fill.rows = row + 1
            fill.writers += 1
            fill.students[row] = student
            fill.arrived[row] = arrived
            self._row_in_filling[student] = row
            if fill.rows == self.max_batch:
                self._seal(fill)
            elif row == 0:
                self._cond.notify()  # the dispatcher times the delay from the first crop
            return fill, row

    def commit(self, fill: BatchFill, row: int) -> None:
        """The crop of a reserved row is written."""
        self._write(fill, slice(row, row + 1))

    def put_many(self, students: np.ndarray, arrived: float, images: np.ndarray,
                 which: np.ndarray | None = None) -> np.ndarray:
        """Queue crop `images[which[i]]` (or `images[i]`) of each of the distinct `students`,
        all from frames that arrived at `arrived`: one locked step, then the copies. Returns
        which crops were taken (the rest were refused and counted).

        Crops are placed grouped by image, so each image is broadcast into a run of rows: a
        contiguous copy at memcpy speed (np.take(out=) or a fancy-indexed gather moved 4x
        fewer bytes a second)."""
        count = len(students)
        taken = np.zeros(count, bool)
        if not count:
            return taken
        if images.dtype != np.uint8 or tuple(images.shape[1:]) != self._shape:
            with self._cond:
                self.stats.dropped["shape"] += count
            return taken
        picks = np.arange(count) if which is None else np.asarray(which)
        order = np.argsort(picks, kind="stable")
        students, picks = students[order], picks[order]
        again: list[tuple[int, int]] = []  # (row, crop): lagging students' rows in the fill
        spans: list[tuple[BatchFill, int, int, int]] = []  # fill, first row, first crop, crops
        with self._cond:
            if self._closed:
                self.stats.dropped["draining"] += count
                return taken
            fill = self._filling or self._open(count)
            if fill is None:
                return taken
            top = int(students.max())
            if top >= self._row_in_filling.size:
                self._grow(top)
            rows = self._row_in_filling[students]
            for crop in np.flatnonzero(rows != NO_ROW).tolist():
                again.append((int(rows[crop]), crop))
                fill.arrived[rows[crop]] = arrived
            filling = fill
            if again:
                fill.writers += len(again)
                self.stats.dropped["lagging"] += len(again)
            fresh = np.flatnonzero(rows == NO_ROW)
            placed = 0
            while fill is not None and placed < fresh.size:
                size = min(self.max_batch - fill.rows, fresh.size - placed)
                first = fill.rows
                who = students[fresh[placed:placed + size]]
                fill.students[first:first + size] = who
                fill.arrived[first:first + size] = arrived
                self._row_in_filling[who] = np.arange(first, first + size)
                fill.rows += size
                fill.writers += 1
                spans.append((fill, first, placed, size))
                placed += size
                if fill.rows == self.max_batch:
                    self._seal(fill)
                elif first == 0:
                    self._cond.notify()
                if placed < fresh.size:
                    fill = self._filling or self._open(fresh.size - placed)
        if again:  # lagging students' rows: scattered, so copied one by one, counted once
            for row, crop in again:
                filling.images[row] = images[picks[crop]]
            filling.written[[row for row, _ in again]] = time.monotonic()
            self._written(filling, len(again))
        for fill, first, start, size in spans:
            batch = fill.images[first:first + size]
            chosen = picks[fresh[start:start + size]]
            edges = [0, *(np.flatnonzero(np.diff(chosen)) + 1).tolist(), size]
            for begin, end in itertools.pairwise(edges):
                batch[begin:end] = images[chosen[begin]]
            self._write(fill, slice(first, first + size))
        taken[order[[crop for _, crop in again]]] = True
        taken[order[fresh[:placed]]] = True
        return taken

    def _write(self, fill: BatchFill, rows: slice) -> None:
        """Rows of a fill were written."""
        fill.written[rows] = time.monotonic()
        self._written(fill, 1)

    def _written(self, fill: BatchFill, writers: int) -> None:
        with self._cond:
            fill.writers -= writers
            if fill.sealed and not fill.writers:
                self._cond.notify()

    def holds(self, students: Iterable[int]) -> bool:
        """Whether any crop of these students is still on its way to the analysis."""
        wanted = np.fromiter(students, np.int64)
        with self._cond:
            metadata = [f.students[:f.rows] for f in self._unsent()]
            metadata += [job.students for job in self._jobs]
        return any(np.isin(m, wanted).any() for m in metadata)

    def _unsent(self) -> list[BatchFill]:
        return [*self._ready, *([self._filling] if self._filling else [])]

    def _open(self, count: int) -> BatchFill | None:
        """A free buffer to fill; None (and `count` crops refused) while the engine is behind."""
        if not self._free:
            self.stats.dropped["backlog"] += count
            return None
        fill = self._free.pop()
        fill.reset(time.monotonic())
        self._filling = fill
        return fill

    def _seal(self, fill: BatchFill) -> None:
        self._close(fill)
        self._ready.append(fill)
        self._cond.notify()

    def _close(self, fill: BatchFill) -> None:
        """No more rows for this fill: the next crop of each of its students opens a new row."""
        fill.sealed = True
        self._filling = None
        self._row_in_filling[fill.students[: fill.rows]] = NO_ROW

    def _grow(self, student: int) -> None:
        grown = np.full(max(2 * self._row_in_filling.size, student + 1), NO_ROW, np.int64)
        grown[: self._row_in_filling.size] = self._row_in_filling
        self._row_in_filling = grown

    # --- dispatch (its own thread) ------------------------------------------------------------

    async def run(self) -> None:
        """Sends batches until `close()`, then finishes everything already queued."""
        if self._running:
            raise RuntimeError("the batcher is already running")
        self._running = True
        loop = asyncio.get_running_loop()
        finished: asyncio.Future[None] = loop.create_future()
        threading.Thread(target=self._dispatch, args=(Handoff(loop), finished),
                         name="batch-dispatch", daemon=True).start()
        await finished

    def _dispatch(self, loop: Handoff, finished: asyncio.Future[None]) -> None:
        in_flight: deque[_Job] = deque()
        try:
            while True:
                taken = self._take(len(in_flight))
                if taken is not None:
                    self._submit(taken[0], taken[1], in_flight, loop)
                elif in_flight:  # nothing to send now: collect the oldest batch in flight
                    self._collect(in_flight.popleft(), loop)
                else:  # closed, and everything was sent and collected
                    return
        finally:  # after every batch's result
            loop.post(finished.set_result, None)

    def _take(self, busy: int) -> tuple[BatchFill, _Job] | None:
        """The next batch to send, waiting for one while nothing is in flight. None while `busy`
        batches are in flight and none is due (collect first), or once closed and all sent."""
        with self._cond:
            while True:
                fill = self._due(busy)
                if fill is not None:
                    break
                if busy:
                    return None
                if self._closed and not self._unsent():
                    return None
                timeout = None
                if self._filling is not None:
                    timeout = max(0.0, self._filling.opened + self.max_delay - time.monotonic())
                self._cond.wait(timeout)
            if fill is self._filling:
                self._close(fill)
            else:
                self._ready.popleft()
            while fill.writers:
                self._cond.wait()
            rows = fill.rows
            job = _Job(fill.students[:rows].copy(), fill.arrived[:rows].copy(),
                       fill.written[:rows].copy(), max(rows, self.runner.min_batch), fill)
            self._jobs.add(job)
            return fill, job

    def _due(self, busy: int) -> BatchFill | None:
        if busy >= self._depth:
            return None
        if self._ready:
            return self._ready[0]
        fill = self._filling
        if fill is not None and (self._closed or time.monotonic() - fill.opened >= self.max_delay):
            return fill
        return None

    def _submit(self, fill: BatchFill, job: _Job, in_flight: deque[_Job],
                loop: Handoff) -> None:
        job.submitted, job.started = time.monotonic(), time.perf_counter()
        try:
            self.runner.submit(fill.images[: job.rows])
            in_flight.append(job)
        except Exception as exc:  # the engine's failure costs this batch, not the pod
            self._release(fill)
            self._failed(job, exc, loop)

    def _collect(self, job: _Job, loop: Handoff) -> None:
        try:
            outputs = self.runner.collect()
        except Exception as exc:
            self._failed(job, exc, loop)
            return
        finally:  # the engine has read the buffer: producers may fill it again
            self._release(job.fill)
        seconds = time.perf_counter() - job.started
        loop.post(self._deliver, job, outputs, seconds, time.monotonic())

    def _release(self, fill: BatchFill) -> None:
        with self._cond:
            self._free.append(fill)

    def _failed(self, job: _Job, exc: Exception, loop: Handoff) -> None:
        log.error("batch of %d crops failed in the engine: %s", len(job.students), exc)
        loop.post(self._lost, job, f"{type(exc).__name__}: {exc}")

    # --- results (event loop) ------------------------------------------------------------------

    def _lost(self, job: _Job, error: str) -> None:
        with self._cond:
            self._jobs.discard(job)
        self.stats.failed_batches += 1
        self.stats.consecutive_failures += 1
        self.stats.last_error = error

    def _deliver(self, job: _Job, outputs: dict[str, np.ndarray], seconds: float,
                 done: float) -> None:
        with self._cond:
            self._jobs.discard(job)
        n = len(job.students)
        self.stats.consecutive_failures = 0
        self.stats.batches += 1
        self.stats.crops += n
        self._on_batch(Batch(job.students, job.arrived, job.written, job.submitted,
                             {h: v[:n] for h, v in outputs.items()}, seconds, done))

    def close(self) -> None:
        """Stop intake; `run()` sends the queued crops, finishes the batches in flight, ends."""
        with self._cond:
            self._closed = True
            self._cond.notify()

"""One clock paces every synthetic stream of a frame rate, from a few threads, in bulk.

A benchmark runs thousands of synthetic streams; a timer, a thread or a coroutine step per stream
per frame would cost the pod more than everything else it does. Streams are spread over PHASES
evenly spaced phases of the frame period, so their frames arrive spread out as real cameras' do.
Each of a few worker threads owns some phases, and at a phase's tick makes the frame of every
stream in it:

- per-student streams (frames.StudentIntake) sharing a batcher: a synthetic frame is uniform,
  so its crop is known once its brightness is (computed once, by the stream's own cropper), and
  all their crops go in one `put_many`: one locked step and one vectorised copy into the batch
  buffer. That is the path any bulk producer takes; the pixels still move once per crop, as a
  decoder's resize would move them. Which brightness each stream shows is worked out for all of
  them at once, so the Python work per crop is a counter update.
- any other intake gets each frame through `intake.frame()`, as from a decoder.

Workers copy on separate cores (numpy releases the GIL while copying); a few are enough (see
_default_workers). Everything else a tick does holds the GIL, briefly: numpy lets go of it for
any operation on more than 500 values, and in a busy pod every such release is a wait to take it
back behind the other threads, so a phase's streams are handled in groups of at most
GROUP_STREAMS. With many phases each tick is small, and the ticks of consecutive phases copy on
several workers at once.

A frame index counts frame periods from the stream's first frame, so a frame the clock was too
late to make is a gap in the indices, as with a camera.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol, cast

import numpy as np

from ..frames import BulkQueue, Frame, Intake, StudentIntake

log = logging.getLogger(__name__)

PHASES = 32
# Streams a tick handles with one set of array operations (each below numpy's 500-value
# threshold for letting go of the GIL).
GROUP_STREAMS = 256
# A tick later than this (a starved machine) restarts the schedule from now, without a burst.
MAX_LAG_S = 1.0
NO_LIMIT = np.iinfo(np.int64).max
MAX_WORKERS = 4  # a power of two dividing PHASES


class Ticked(Protocol):
    """What the clock needs of a synthetic stream."""

    stream_id: str
    limit: int | None  # frames to make; None: until removed

    @property
    def steps(self) -> tuple[tuple[int, float], ...]:
        """The brightness pattern: (level, seconds) steps, repeated."""
        ...

    def level(self, index: int) -> int:
        """The brightness of frame `index`."""
        ...

    def image(self, level: int) -> np.ndarray:
        """The frame at a brightness (the same read-only array every time)."""
        ...


@dataclass(eq=False)
class Ticking:
    """A stream on the clock: its frames go to `intake`; `done` is called (in a clock thread)
    after its last frame when it has a frame limit."""

    stream: Ticked
    intake: Intake
    phase: int
    done: Callable[[], None]
    first: int = -1  # the period of its first frame; -1 until it is made
    bulk: bool = field(init=False)
    # Its pattern as arrays, worked out once: a phase's group is rebuilt from these whenever
    # streams come or go, thousands of times while a large assignment starts or drains.
    ends: np.ndarray = field(init=False, repr=False)  # when each step ends, seconds
    levels: np.ndarray = field(init=False, repr=False)
    limit: int = field(init=False)

    def __post_init__(self) -> None:
        self.bulk = isinstance(self.intake, StudentIntake)
        steps = self.stream.steps
        self.ends = np.cumsum([seconds for _, seconds in steps])
        self.levels = np.array([level for level, _ in steps], np.int64)
        self.limit = NO_LIMIT if self.stream.limit is None else self.stream.limit


class _Group:
    """Up to GROUP_STREAMS per-student streams of one phase queued to one batcher, as arrays."""

    def __init__(self, members: list[Ticking]) -> None:
        self.members = members
        self.intakes = [cast(StudentIntake, m.intake) for m in members]
        self.queue: BulkQueue = self.intakes[0].queue
        self.students = np.array([i.student for i in self.intakes], np.int64)
        self.first = np.array([m.first for m in members], np.int64)
        self.limit = np.array([m.limit for m in members], np.int64)
        steps = max(m.ends.size for m in members)
        if all(m.ends.size == steps for m in members):
            self.ends = np.stack([m.ends for m in members])
            self.levels = np.stack([m.levels for m in members])
        else:  # shorter patterns hold their last level for ever after
            self.ends = np.full((len(members), steps), np.inf)
            self.levels = np.zeros((len(members), steps), np.int64)
            for k, member in enumerate(members):
                self.ends[k, : member.ends.size] = member.ends
                self.levels[k] = member.levels[-1]
                self.levels[k, : member.levels.size] = member.levels
        self.cycle = np.array([m.ends[-1] for m in members])
        self.rows = np.arange(len(members))


@dataclass(eq=False)
class _Phase:
    lock: threading.Lock = field(default_factory=threading.Lock)
    members: dict[Ticking, None] = field(default_factory=dict)  # in order of arrival
    # Rebuilt from `members` after they change: per-student streams by batcher, and the rest.
    groups: list[_Group] | None = None
    singles: list[Ticking] = field(default_factory=list)


class _Crops:
    """The crops of uniform frames queued to one batcher, stacked; one row per brightness."""

    def __init__(self) -> None:
        self.row = np.full(256, -1, np.int64)  # brightness -> row of the stack
        self.stack = np.zeros((0,), np.uint8)

    def rows(self, group: _Group, levels: np.ndarray) -> np.ndarray:
        rows = self.row[levels]
        for k in np.flatnonzero(rows < 0).tolist():
            level = int(levels[k])
            if self.row[level] < 0:
                crop = group.intakes[k].crop(group.members[k].stream.image(level))[np.newaxis]
                self.stack = crop if not len(self.stack) else np.concatenate([self.stack, crop])
                self.row[level] = len(self.stack) - 1
        return self.row[levels]


class SyntheticClock:
    _shared: dict[float, SyntheticClock] = {}
    _shared_lock = threading.Lock()

    def __init__(self, fps: float, workers: int | None = None) -> None:
        self.fps = fps
        self._step_s = 1.0 / fps / PHASES
        self._epoch = time.monotonic()
        self._workers = workers or _default_workers()
        self._phases = [_Phase() for _ in range(PHASES)]
        # By batcher, dropped with it: a new pod's batcher never finds another's crops.
        self._crops: weakref.WeakKeyDictionary[BulkQueue, _Crops] = weakref.WeakKeyDictionary()
        self._lock = threading.Lock()
        self._count = 0
        self._running: set[int] = set()

    @classmethod
    def shared(cls, fps: float) -> SyntheticClock:
        """The process's clock for this frame rate."""
        with cls._shared_lock:
            if fps not in cls._shared:
                cls._shared[fps] = cls(fps)
            return cls._shared[fps]

    def add(self, ticking: Ticking) -> None:
        phase = self._phases[ticking.phase % PHASES]
        with phase.lock:
            phase.groups = None
            phase.members[ticking] = None
        with self._lock:
            self._count += 1
            for worker in set(range(self._workers)) - self._running:
                self._running.add(worker)
                threading.Thread(target=self._work, args=(worker,), daemon=True,
                                 name=f"synthetic-clock-{self.fps:g}-{worker}").start()

    def remove(self, ticking: Ticking) -> None:
        """Once this returns, the stream gets no more frames."""
        phase = self._phases[ticking.phase % PHASES]
        with phase.lock:
            if ticking not in phase.members:
                return
            phase.groups = None
            del phase.members[ticking]
        with self._lock:
            self._count -= 1

    @property
    def threads(self) -> int:
        """Worker threads running now (they stop while no stream is on the clock)."""
        with self._lock:
            return len(self._running)

    def _step_now(self) -> int:
        return int((time.monotonic() - self._epoch) / self._step_s)

    def _work(self, worker: int) -> None:
        step = self._step_now()
        while True:
            step += (worker - step) % self._workers or self._workers
            delay = self._epoch + step * self._step_s - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            elif -delay > MAX_LAG_S:
                step = self._step_now()
                continue
            # A little late (a busy machine): the steps due meanwhile run one after another, so
            # every phase still ticks once a period.
            phase = self._phases[step % PHASES]
            with phase.lock:
                try:
                    self._tick(phase, step // PHASES)
                except Exception:  # a bug costs this tick's frames, never the clock
                    log.exception("synthetic clock %g fps: a tick failed", self.fps)
            with self._lock:
                if not self._count:  # nobody listening: stop; the next add() starts it again
                    self._running.discard(worker)
                    return

    def _tick(self, phase: _Phase, period: int) -> None:
        if not phase.members:
            return
        now = time.monotonic()
        if phase.groups is None:
            by_queue: dict[int, list[Ticking]] = {}
            phase.singles = []
            for member in phase.members:
                if member.bulk:
                    queue = cast(StudentIntake, member.intake).queue
                    by_queue.setdefault(id(queue), []).append(member)
                else:
                    phase.singles.append(member)
            phase.groups = [_Group(members[k:k + GROUP_STREAMS]) for members in by_queue.values()
                            for k in range(0, len(members), GROUP_STREAMS)]
        ended = [m for g in phase.groups for m in self._tick_group(g, period, now)]
        for member in phase.singles:
            index = _index(member, period)
            if index is None:
                ended.append(member)
            else:
                image = member.stream.image(member.stream.level(index))
                member.intake.frame(Frame(member.stream.stream_id, image, now, index))
        if ended:
            phase.groups = None
            for member in ended:
                del phase.members[member]
                member.done()
            with self._lock:
                self._count -= len(ended)

    def _tick_group(self, group: _Group, period: int, now: float) -> list[Ticking]:
        """Queue the crops of a group's streams; returns the streams that made their last."""
        starting = group.first < 0
        if starting.any():
            group.first[starting] = period
            for k in np.flatnonzero(starting).tolist():
                group.intakes[k].first_arrival = now
                group.members[k].first = period  # kept when the group is rebuilt
        index = period - group.first
        live = index < group.limit
        ended = [] if live.all() else [group.members[k] for k in np.flatnonzero(~live)]
        seconds = (index / self.fps) % group.cycle
        step = np.minimum((seconds[:, None] >= group.ends).sum(axis=1), group.ends.shape[1] - 1)
        levels = group.levels[group.rows, step]
        crops = self._crops.setdefault(group.queue, _Crops())
        rows = crops.rows(group, levels)
        students, intakes = group.students, group.intakes
        if ended:
            students, rows = students[live], rows[live]
            intakes = [i for i, ok in zip(intakes, live.tolist(), strict=True) if ok]
            if not intakes:
                return ended
        taken = group.queue.put_many(students, now, crops.stack, rows)
        for intake in intakes:  # the only Python work a crop costs here
            intake.frames += 1
            intake.last_arrival = now
        if not taken.all():
            for k in np.flatnonzero(~taken).tolist():
                intakes[k].dropped += 1
        return ended


def _index(member: Ticking, period: int) -> int | None:
    """The frame index this period gives the stream; None once its frames are all made."""
    if member.first < 0:
        member.first = period
    index = period - member.first
    return None if index >= member.limit else index


def _default_workers() -> int:
    """A quarter of the cores, as a power of two, at most MAX_WORKERS: workers copy in parallel
    only while the GIL is free, and every worker more is one more thread taking the GIL back
    from the batcher's dispatcher and the event loop. Measured on a 16-core H200 node, copy-only
    pod offered 440,000 crops/s: 2 workers made only 103,000 crops/s (the clock could not make
    more), 4 workers labelled 205,000, 8 workers 22,000-103,000."""
    workers = 1
    while workers * 2 <= min(MAX_WORKERS, (os.cpu_count() or 1) // 4):
        workers *= 2
    return workers

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest
from classroom_inference.serving.batcher import Batch, Batcher

from .conftest import SIZE


class Collected:
    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.arrived = asyncio.Event()

    def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.arrived.set()

    async def crops(self, count: int) -> None:
        while len(self.students) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 30)

    @property
    def students(self) -> list[int]:
        return [int(s) for b in self.batches for s in b.students]

    @property
    def frames(self) -> list[tuple[int, int]]:
        """(student, frame index) of every crop, in the order results came."""
        return [(int(s), int(t)) for b in self.batches
                for s, t in zip(b.students, b.arrived, strict=True)]

    def attention(self) -> np.ndarray:
        return np.concatenate([b.outputs["attention"][:, 0] for b in self.batches])


async def _drain(batcher: Batcher) -> None:
    batcher.close()
    await asyncio.wait_for(batcher.run(), 30)


async def test_results_follow_crops_in_order(
    open_engine: Any, put: Any, attention_of: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 8, 8)), got, max_delay=0.005)
    runner = asyncio.create_task(batcher.run())
    levels = [(i * 37) % 256 for i in range(30)]
    for i, level in enumerate(levels):
        assert put(batcher, 100 + i, level, index=i)
        if i % 7 == 0:
            await asyncio.sleep(0.002)
    batcher.close()
    await asyncio.wait_for(runner, 30)
    assert got.students == [100 + i for i in range(30)]
    assert np.allclose(got.attention(), [attention_of(v) for v in levels], atol=1e-5)
    assert all(len(b.students) <= 8 for b in got.batches)
    assert [t for _, t in got.frames] == list(range(30))
    assert all((b.written >= b.arrived).all() and (b.submitted >= b.written).all()
               for b in got.batches)
    assert batcher.stats.crops == 30 and batcher.depth == 0


async def test_a_full_batch_leaves_at_once_and_a_lone_crop_after_the_delay(
    open_engine: Any, put: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 4, 4)), got, max_delay=0.05)
    runner = asyncio.create_task(batcher.run())
    for i in range(4):
        put(batcher, i, 200)
    put(batcher, 9, 200)
    await got.crops(5)  # no close(): only the delay can let the fifth one go
    assert [len(b.students) for b in got.batches] == [4, 1]
    assert got.batches[1].submitted - got.batches[1].written[0] >= 0.05
    batcher.close()
    await asyncio.wait_for(runner, 30)


async def test_a_lagging_students_newer_crop_takes_its_older_ones_row(
    open_engine: Any, put: Any, attention_of: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 64, 64)), got)
    lagging, steady = 1, 2
    # The engine is not running yet: everything waits, as when inference falls behind.
    for i in range(10):
        put(batcher, lagging, 20 * i, index=i)
        if i == 4:
            put(batcher, steady, 100, index=i)
    assert batcher.depth == 2  # one row each: no row spent on a superseded frame
    await _drain(batcher)
    assert got.frames == [(lagging, 9), (steady, 4)]
    assert np.allclose(got.attention(), [attention_of(180), attention_of(100)], atol=1e-5)
    assert batcher.stats.dropped["lagging"] == 9


async def test_a_student_waits_behind_no_more_than_the_batches_already_full(
    open_engine: Any, put: Any
) -> None:
    """Once a batch is full it goes to the engine as it is; the student's next crop starts a
    row in the next batch, in time order."""
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 2, 2)), got)
    for i in range(3):
        put(batcher, 7, 50, index=i)  # replaces its own row: the batch never fills
    put(batcher, 8, 50, index=3)  # now it is full
    put(batcher, 7, 50, index=4)
    await _drain(batcher)
    assert got.frames == [(7, 2), (8, 3), (7, 4)]
    assert batcher.stats.dropped["lagging"] == 2


async def test_room_seats_are_bounded_separately(open_engine: Any, put: Any) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 64, 64)), got)
    for frame in range(3):
        for seat in (11, 12, 13):
            put(batcher, seat, 90, index=frame)
    await _drain(batcher)
    assert sorted(got.students) == [11, 12, 13]
    assert {t for _, t in got.frames} == {2}


async def test_fixed_batch_engine_is_padded_and_masked(
    open_engine: Any, put: Any, attention_of: Any
) -> None:
    got = Collected()
    runner = open_engine(batch=(8, 8, 8))
    seen: list[int] = []
    infer = runner.infer

    def spy(batch: np.ndarray) -> dict[str, np.ndarray]:
        seen.append(batch.shape[0])
        return infer(batch)

    runner.infer = spy  # type: ignore[method-assign]
    batcher = Batcher(runner, got)
    for i, level in enumerate((10, 250, 128)):
        put(batcher, i, level)
    await _drain(batcher)
    assert seen == [8]
    assert got.batches[0].outputs["attention"].shape == (3, 1)
    assert got.batches[0].outputs["emotion"].shape == (3, 4)
    assert np.allclose(got.attention(), [attention_of(v) for v in (10, 250, 128)], atol=1e-5)


async def test_crops_of_the_wrong_shape_are_refused(open_engine: Any, put: Any) -> None:
    got = Collected()
    batcher = Batcher(open_engine(), got)
    taken = batcher.put_many(np.array([0, 1]), 0.0, np.zeros((2, 8, 8, 3), np.uint8))
    assert not taken.any()
    assert put(batcher, 1, 10)
    await _drain(batcher)
    assert got.students == [1]
    assert batcher.stats.dropped["shape"] == 2


async def test_drain_finishes_queued_crops_and_refuses_new_ones(
    open_engine: Any, put: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 8, 8)), got, max_delay=10.0)
    runner = asyncio.create_task(batcher.run())
    for i in range(20):
        put(batcher, i, 50)
    batcher.close()  # with a 10 s delay, only draining can flush the last 4 now
    assert not put(batcher, 99, 50)
    await asyncio.wait_for(runner, 30)
    assert len(got.students) == 20 and batcher.stats.dropped["draining"] == 1


async def test_when_every_buffer_is_full_new_crops_are_refused_and_counted(
    open_engine: Any, put: Any
) -> None:
    """Memory is the runner's buffers whatever the load: an engine that is behind costs the
    newest crops, counted, never more memory."""
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 4, 4)), got)
    held = 4 * batcher.buffers
    results = [put(batcher, i, 30) for i in range(held + 3)]
    assert results == [True] * held + [False] * 3
    assert batcher.stats.dropped["backlog"] == 3 and batcher.depth == held
    await _drain(batcher)
    assert got.students == list(range(held))


async def test_many_crops_go_in_one_step_across_batches(
    open_engine: Any, attention_of: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 8, 8)), got, max_delay=10.0)
    levels = np.array([20, 120, 240], np.uint8)
    images = np.broadcast_to(levels[:, None, None, None], (3, SIZE, SIZE, 3)).copy()
    which = np.arange(20) % 3
    taken = batcher.put_many(np.arange(100, 120), 5.0, images, which)
    assert taken.all() and batcher.depth == 20
    # The next ones overrun the buffers by 4; crops are placed grouped by image (the first
    # image's first), and which were refused is told in the caller's order.
    room = 8 * batcher.buffers - 20
    count = room + 4
    more_which = np.resize(np.array([2, 0, 1, 2]), count)
    more = batcher.put_many(np.arange(200, 200 + count), 6.0, images, more_which)
    placed = np.argsort(more_which, kind="stable")[:room]
    assert more.tolist() == [i in placed for i in range(count)]
    await _drain(batcher)
    assert all(len(b.students) == 8 for b in got.batches)
    assert sorted(got.students) == sorted([*range(100, 120), *(200 + placed).tolist()])
    level_of = {100 + i: int(levels[w]) for i, w in enumerate(which)}
    level_of |= {200 + i: int(levels[w]) for i, w in enumerate(more_which)}
    assert np.allclose(got.attention(), [attention_of(level_of[s]) for s in got.students],
                       atol=1e-5)
    assert {int(t) for b in got.batches for t in b.arrived} == {5, 6}
    assert batcher.stats.dropped["backlog"] == count - room


async def test_holds_tells_whether_a_students_crop_is_on_its_way(
    open_engine: Any, put: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 4, 4)), got, max_delay=0.01)
    put(batcher, 7, 10)
    put(batcher, 8, 10)
    assert batcher.holds([7]) and batcher.holds([3, 8]) and not batcher.holds([3])
    runner = asyncio.create_task(batcher.run())
    await got.crops(2)
    assert not batcher.holds([7, 8])
    batcher.close()
    await asyncio.wait_for(runner, 30)


async def test_producers_on_many_threads_each_get_their_own_rows(
    open_engine: Any, attention_of: Any
) -> None:
    """Rows are reserved under the lock and written outside it, by many threads at once: every
    crop arrives exactly once, with its own pixels."""
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 16, 16)), got, max_delay=0.002)
    runner = asyncio.create_task(batcher.run())
    threads, per_thread = 4, 150
    refused: list[int] = []

    def produce(worker: int) -> None:
        for i in range(per_thread):
            student = worker * 1000 + i
            while (place := batcher.reserve(student, float(student))) is None:
                refused.append(student)  # the engine is behind: a real producer moves on
                threading.Event().wait(0.001)
            fill, row = place
            fill.images[row] = student % 251
            batcher.commit(fill, row)

    workers = [threading.Thread(target=produce, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    await asyncio.to_thread(lambda: [w.join() for w in workers])
    batcher.close()
    await asyncio.wait_for(runner, 30)
    assert sorted(got.students) == sorted(w * 1000 + i for w in range(threads)
                                          for i in range(per_thread))
    expected = np.array([attention_of(s % 251) for s in got.students])
    assert np.allclose(got.attention(), expected, atol=1e-5)
    assert all(int(t) == s for s, t in got.frames)


def _hold_the_loop(until: threading.Event) -> float:
    """Keep the event loop (the caller) busy until `until` is set, and a moment more."""
    assert until.wait(30)
    time.sleep(0.05)
    return time.monotonic()


async def test_a_batch_is_done_when_collected_not_when_the_event_loop_takes_it(
        open_engine: Any, put: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """`Batch.done` dates the heads' collection: the time a batch then waits for a busy event
    loop is its own stage of the latency, never engine time."""
    engine = open_engine(batch=(1, 8, 8))
    collected = threading.Event()
    collect = engine.collect

    def collect_and_tell() -> dict[str, np.ndarray]:
        heads = collect()
        collected.set()
        return heads

    monkeypatch.setattr(engine, "collect", collect_and_tell)
    got = Collected()
    batcher = Batcher(engine, got, max_delay=0.001)
    runner = asyncio.create_task(batcher.run())
    await asyncio.sleep(0)  # the dispatcher thread runs
    for student in range(8):  # a full batch: sent at once
        assert put(batcher, student, 128, index=student)
    held_until = _hold_the_loop(collected)
    await got.crops(8)
    batch = got.batches[0]
    assert batch.submitted <= batch.done < held_until
    batcher.close()
    await asyncio.wait_for(runner, 30)

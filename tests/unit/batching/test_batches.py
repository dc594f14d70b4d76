from __future__ import annotations

import asyncio
from typing import Any

import numpy as np
from classroom_inference.serving.batcher import Batch, Batcher


class Collected:
    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self.drops: list[tuple[str, str, int, str]] = []
        self.arrived = asyncio.Event()

    def __call__(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.arrived.set()

    async def crops(self, count: int) -> None:
        while len(self.keys) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 30)

    def dropped(self, crop: Any, reason: str) -> None:
        self.drops.append((crop.stream_id, crop.seat, crop.frame_index, reason))

    @property
    def keys(self) -> list[tuple[str, str]]:
        return [k for b in self.batches for k in b.keys]

    def attention(self) -> np.ndarray:
        return np.concatenate([b.outputs["attention"][:, 0] for b in self.batches])


async def _drain(batcher: Batcher) -> None:
    batcher.close()
    await asyncio.wait_for(batcher.run(), 30)


async def test_results_follow_crops_in_order(
    open_engine: Any, crop: Any, attention_of: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 8, 8)), got, max_delay=0.005, slots_per_student=8)
    runner = asyncio.create_task(batcher.run())
    levels = [(i * 37) % 256 for i in range(30)]
    for i, level in enumerate(levels):
        batcher.put(crop(f"s{i % 5}", level, index=i))
        if i % 7 == 0:
            await asyncio.sleep(0.002)
    batcher.close()
    await asyncio.wait_for(runner, 30)
    assert got.keys == [(f"s{i % 5}", "0") for i in range(30)]
    assert np.allclose(got.attention(), [attention_of(v) for v in levels], atol=1e-5)
    assert all(len(b.keys) <= 8 for b in got.batches)
    assert [int(x) for b in got.batches for x in b.arrived] == list(range(30))
    assert batcher.stats.crops == 30 and batcher.depth == 0


async def test_a_full_batch_leaves_at_once_and_a_lone_crop_after_the_delay(
    open_engine: Any, crop: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 4, 4)), got, max_delay=0.05)
    runner = asyncio.create_task(batcher.run())
    for i in range(4):
        batcher.put(crop(f"s{i}", 200))
    batcher.put(crop("s9", 200))
    await got.crops(5)  # no close(): only the delay can let the fifth one go
    assert [len(b.keys) for b in got.batches] == [4, 1]
    assert got.batches[1].queued[0] >= 0.05
    await _drain(batcher)
    await runner


async def test_a_lagging_student_loses_its_oldest_crops_only(open_engine: Any, crop: Any) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 64, 64)), got, slots_per_student=2, on_drop=got.dropped)
    # The engine is not running yet: everything queues, as when inference falls behind.
    for i in range(10):
        batcher.put(crop("lagging", 100, index=i))
        if i < 2:
            batcher.put(crop("steady", 100, index=i))
    assert batcher.depth == 4
    await _drain(batcher)
    frames = [(k, int(t)) for b in got.batches for k, t in zip(b.keys, b.arrived, strict=True)]
    assert frames == [
        (("steady", "0"), 0),
        (("steady", "0"), 1),
        (("lagging", "0"), 8),
        (("lagging", "0"), 9),
    ]
    assert got.drops == [("lagging", "0", i, "lagging") for i in range(8)]
    assert batcher.stats.dropped["lagging"] == 8


async def test_room_seats_are_bounded_separately(open_engine: Any, crop: Any) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 64, 64)), got, slots_per_student=1)
    for frame in range(3):
        for seat in ("1", "2", "3"):
            batcher.put(crop("room-cam", 90, seat=seat, index=frame))
    await _drain(batcher)
    assert sorted(got.keys) == [("room-cam", "1"), ("room-cam", "2"), ("room-cam", "3")]
    assert {int(t) for b in got.batches for t in b.arrived} == {2}


async def test_fixed_batch_engine_is_padded_and_masked(
    open_engine: Any, crop: Any, attention_of: Any
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
        batcher.put(crop(f"s{i}", level))
    await _drain(batcher)
    assert seen == [8]
    assert got.batches[0].outputs["attention"].shape == (3, 1)
    assert got.batches[0].outputs["emotion"].shape == (3, 4)
    assert np.allclose(got.attention(), [attention_of(v) for v in (10, 250, 128)], atol=1e-5)


async def test_crops_of_the_wrong_shape_are_refused(open_engine: Any, crop: Any) -> None:
    got = Collected()
    batcher = Batcher(open_engine(), got, on_drop=got.dropped)
    wrong = crop("s0", 10)
    object.__setattr__(wrong, "image", np.zeros((8, 8, 3), np.uint8))
    assert not batcher.put(wrong)
    assert batcher.put(crop("s1", 10))
    await _drain(batcher)
    assert got.keys == [("s1", "0")]
    assert batcher.stats.dropped["shape"] == 1 and got.drops[0][3] == "shape"


async def test_drain_finishes_queued_crops_and_refuses_new_ones(
    open_engine: Any, crop: Any
) -> None:
    got = Collected()
    batcher = Batcher(open_engine(batch=(1, 8, 8)), got, max_delay=10.0)
    runner = asyncio.create_task(batcher.run())
    for i in range(20):
        batcher.put(crop(f"s{i}", 50))
    batcher.close()  # with a 10 s delay, only draining can flush the last 4 now
    assert not batcher.put(crop("late", 50))
    await asyncio.wait_for(runner, 30)
    assert len(got.keys) == 20 and batcher.stats.dropped["draining"] == 1

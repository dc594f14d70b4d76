"""A stream's intake crops each frame straight into a row of the batch being filled, tagged with
its student's id; per-student streams on the synthetic clock go in bulk and give the same crops."""

from __future__ import annotations

import asyncio

import numpy as np
from classroom_inference.serving.batcher import Batch, Batcher
from classroom_inference.serving.crops import CropShape, RoomCropper, StudentCropper, cut
from classroom_inference.serving.detector import Box
from classroom_inference.serving.frames import Frame
from classroom_inference.serving.intake import StreamIntake, StudentStreamIntake, intake_for
from classroom_inference.serving.sources import SyntheticSource, open_source
from classroom_inference.serving.sources.clock import SyntheticClock, Ticking
from classroom_inference.serving.students import StudentIds

from .conftest import SIZE, attention_of

SHAPE = CropShape(SIZE, SIZE, 3)


def _frame(stream: str, image: np.ndarray, index: int) -> Frame:
    return Frame(stream, image, float(index), index)


async def _flush(batcher: Batcher) -> None:
    batcher.close()
    await asyncio.wait_for(batcher.run(), 30)


async def test_a_student_frame_is_cropped_into_its_row_and_a_newer_one_takes_it_over(
    batcher: Batcher, batches: list[Batch]
) -> None:
    ids = StudentIds()
    intake = intake_for("s7", StudentCropper(SHAPE), SHAPE, batcher, ids)
    assert isinstance(intake, StudentStreamIntake)
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, 8:56] = 200  # the centre square is the student, the sides are dark
    intake.frame(_frame("s7", image, 0))
    fill = batcher._filling
    assert fill is not None and fill.rows == 1
    assert (fill.images[0] == intake.crop(image)).all() and (fill.images[0] == 200).all()
    newer = np.full_like(image, 40)
    intake.frame(_frame("s7", newer, 1))  # the engine is behind: same row, newer frame
    assert fill.rows == 1 and (fill.images[0] == 40).all()
    await _flush(batcher)
    assert [int(s) for b in batches for s in b.students] == [ids.of("s7", "0")]
    assert [int(t) for b in batches for t in b.arrived] == [1]
    assert np.allclose(batches[0].outputs["attention"][:, 0], attention_of(40), atol=1e-5)
    assert (intake.frames, intake.crops, intake.dropped) == (2, 2, 0)
    assert batcher.stats.dropped == {"lagging": 1}


async def test_a_room_frame_gives_one_crop_per_seat_under_a_steady_id(
    batcher: Batcher, batches: list[Batch]
) -> None:
    class TwoFaces(RoomCropper):
        def seats(self, frame: Frame) -> list[tuple[str, Box]]:
            return [("1", Box(0, 0, 32, 32)), ("2", Box(32, 0, 32, 32))]

    ids = StudentIds()
    intake = intake_for("cam", TwoFaces(SHAPE), SHAPE, batcher, ids)
    image = np.zeros((32, 64, 3), np.uint8)
    image[:, 32:] = 250  # seat 2 is bright, seat 1 dark
    dispatching = asyncio.create_task(batcher.run())
    for index in range(2):
        intake.frame(_frame("cam", image, index))
        while sum(len(b.students) for b in batches) < 2 * (index + 1):  # noqa: ASYNC110
            await asyncio.sleep(0.001)
    batcher.close()
    await asyncio.wait_for(dispatching, 30)
    one, two = ids.of("cam", "1"), ids.of("cam", "2")
    assert [int(s) for b in batches for s in b.students] == [one, two, one, two]
    attention = np.concatenate([b.outputs["attention"][:, 0] for b in batches])
    assert np.allclose(attention, [attention_of(0), attention_of(250)] * 2, atol=1e-5)
    assert (intake.frames, intake.crops) == (2, 4)


async def test_refused_crops_are_counted_and_a_closed_intake_takes_nothing(
    batcher: Batcher, batches: list[Batch]
) -> None:
    intake = intake_for("s1", StudentCropper(SHAPE), SHAPE, batcher, StudentIds())
    image = np.full((SIZE, SIZE, 3), 90, np.uint8)
    intake.frame(_frame("s1", image, 0))
    intake.frame(_frame("s1", image, 1))  # the engine is behind: it takes the older one's row
    # Other streams fill every buffer while the engine is not running.
    others = np.arange(1000, 1000 + batcher.buffers * 64 - 1)
    assert batcher.put_many(others, 2.0, image[np.newaxis], np.zeros(others.size, int)).all()
    intake.frame(_frame("s1", image, 3))  # its row went with the full batch: no room left
    assert (intake.frames, intake.dropped, intake.crops) == (3, 1, 2)
    intake.close()
    intake.frame(_frame("s1", image, 4))
    assert intake.frames == 3
    await _flush(batcher)
    mine = [int(t) for b in batches for s, t in zip(b.students, b.arrived, strict=True)
            if s == intake.student]
    assert mine == [1]
    assert batcher.stats.dropped == {"lagging": 1, "backlog": 1}


async def test_the_bulk_path_queues_the_crops_the_frame_path_would(
    batcher: Batcher, batches: list[Batch]
) -> None:
    """Per-student synthetic streams on the clock go in one put_many per tick; each crop is the
    one the stream's own cropper cuts from the frame, at the brightness the pattern says."""
    ids = StudentIds()
    clock = SyntheticClock(fps=100.0, workers=1)
    dispatching = asyncio.create_task(batcher.run())
    streams: list[tuple[SyntheticSource, StreamIntake]] = []
    for i, pattern in enumerate(("200:0.05,30:0.05", "90:1")):
        source = open_source(f"s{i}", f"synthetic://s{i}?fps=100&width=40&height=24"
                                      f"&pattern={pattern}")
        assert isinstance(source, SyntheticSource)
        streams.append((source, intake_for(f"s{i}", StudentCropper(SHAPE), SHAPE, batcher,
                                            ids)))
    ticking = [Ticking(source, intake, 5, lambda: None) for source, intake in streams]
    for t in ticking:
        clock.add(t)
    try:
        async with asyncio.timeout(20):
            while sum(len(b.students) for b in batches) < 40:  # noqa: ASYNC110
                await asyncio.sleep(0.01)
    finally:
        for t in ticking:
            clock.remove(t)
    batcher.close()
    await asyncio.wait_for(dispatching, 30)
    first, second = (ids.of(f"s{i}", "0") for i in range(2))
    students = np.concatenate([b.students for b in batches])
    attention = np.concatenate([b.outputs["attention"][:, 0] for b in batches])
    bright, dark, grey = (attention_of(v) for v in (200, 30, 90))
    assert np.allclose(attention[students == second], grey, atol=1e-5)
    steady = attention[students == first]
    assert np.isclose(steady, bright, atol=1e-5).sum() >= 5
    assert np.isclose(steady, dark, atol=1e-5).sum() >= 5
    assert (np.isclose(steady, bright, atol=1e-5) | np.isclose(steady, dark, atol=1e-5)).all()
    for source, intake in streams:
        frame = source.image(source.level(0))
        assert (intake.crop(frame) == cut(frame, StudentCropper(SHAPE).seats(
            _frame("x", frame, 0))[0][1], SHAPE)).all()
        assert intake.frames >= 20 and intake.crops == intake.frames - intake.dropped
        assert intake.first_arrival is not None and intake.last_arrival is not None


async def test_a_bulk_stream_that_ends_leaves_the_others_flowing(batcher: Batcher) -> None:
    ids = StudentIds()
    clock = SyntheticClock(fps=100.0, workers=1)
    dispatching = asyncio.create_task(batcher.run())
    ended = asyncio.Event()
    loop = asyncio.get_running_loop()
    ticking = []
    for name, limit, phase in (("short", "&frames=3", 3), ("long", "", 9)):
        source = open_source(name, f"synthetic://{name}?fps=100&width=16&height=16{limit}")
        assert isinstance(source, SyntheticSource)
        intake = intake_for(name, StudentCropper(SHAPE), SHAPE, batcher, ids)
        done = (lambda: loop.call_soon_threadsafe(ended.set)) if limit else (lambda: None)
        ticking.append(Ticking(source, intake, phase, done))  # alone in its phase
    for t in ticking:
        clock.add(t)
    try:
        await asyncio.wait_for(ended.wait(), 10)
        long_intake = ticking[1].intake
        assert isinstance(long_intake, StudentStreamIntake)
        frames = long_intake.frames
        async with asyncio.timeout(10):
            while long_intake.frames < frames + 5:  # noqa: ASYNC110 - a clock thread counts
                await asyncio.sleep(0.01)
    finally:
        for t in ticking:
            clock.remove(t)
    batcher.close()
    await asyncio.wait_for(dispatching, 30)
    short_intake = ticking[0].intake
    assert isinstance(short_intake, StudentStreamIntake) and short_intake.frames == 3

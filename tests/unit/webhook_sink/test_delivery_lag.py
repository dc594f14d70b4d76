"""How far behind delivery is: the age of the oldest event still in the spool, and when the
receiver last took a batch (the status document's sink.oldestUndeliveredSeconds and
sink.lastDeliveredAt, read by the operator)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from classroom_inference.serving.spool import Spool


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_the_oldest_undelivered_event_ages_until_delivered(tmp_path: Path, event: Any) -> None:
    clock = Clock()
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096, retention_seconds=3600,
                  clock=clock)
    assert spool.oldest_undelivered_age() is None
    spool.offer(event(0))
    clock.now += 5
    assert spool.oldest_undelivered_age() == 5  # offered, not yet flushed
    spool.flush()
    for i in range(1, 200):  # a backlog over many segments, 1 s apart
        clock.now += 1
        spool.offer(event(i))
        spool.flush()
    assert spool.oldest_undelivered_age() == 204
    _, position = spool.read(100, 1 << 30)
    spool.commit(position)
    # Event 100 is the oldest left; it came 105 s after event 0, which is 204 s old.
    assert spool.oldest_undelivered_age() == 99
    _, position = spool.read(1000, 1 << 30)
    spool.commit(position)
    assert spool.empty and spool.oldest_undelivered_age() is None


def test_a_restart_dates_the_backlog_by_its_segment(tmp_path: Path, event: Any) -> None:
    clock = Clock()
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16, clock=clock)
    spool.offer(event(0))
    spool.flush()
    spool.close()
    clock.now += 30
    again = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16, clock=clock)
    age = again.oldest_undelivered_age()
    assert age is not None and age >= 0

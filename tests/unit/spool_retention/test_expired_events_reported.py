"""A receiver down for longer than the retention is told what expired once it is back."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from classroom_inference.serving.events import EventHub
from classroom_inference.serving.outbox import Outbox
from classroom_inference.serving.sink import Envelope, WebhookSink
from classroom_inference.serving.spool import Spool

ENVELOPE = Envelope(pod="web-0", model="school/attention", fingerprint="0123456789abcdef")


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


async def _until(check: Callable[[], bool], what: str) -> None:
    async with asyncio.timeout(30):
        while not check():  # noqa: ASYNC110 - the sink has no event to wait on
            await asyncio.sleep(0.01)
    assert check(), what


async def test_expired_events_are_named_by_an_events_lost_with_reason_retention(
        tmp_path: Path, receiver: Any) -> None:
    clock = Clock()
    spool = Spool(tmp_path / "spool", max_bytes=1 << 22, segment_bytes=4096,
                  retention_seconds=3600, clock=clock)
    sink = WebhookSink(spool, token=None, envelope=ENVELOPE, flush_seconds=0.01,
                       backoff_seconds=0.02, backoff_cap_seconds=0.05,
                       expiry_check_seconds=0.01)
    sink.set_url(receiver.url)  # the receiver is down: connection refused
    outbox = Outbox(EventHub(), sink)
    task = asyncio.create_task(sink.run())
    for i in range(20):
        outbox.publish({"type": "series", "classroom": "room-101", "n": i})
    await _until(lambda: spool.pending_flush is False and sink.stats.failures >= 1,
                 "the first events are on disk and undeliverable")
    clock.now += 3600  # an hour later, still down: the first twenty are past the retention
    # The spool counts them in its I/O thread; the marker is numbered once the event loop
    # hears of it, so new events wait for that (else they would take seq 21 before it).
    await _until(lambda: spool.expired == 20 and outbox.next_seq == 22,
                 "the first twenty expired and named")
    for i in range(20, 25):
        outbox.publish({"type": "series", "classroom": "room-101", "n": i})
    await receiver.up()
    await receiver.until(6)
    marker, *rest = receiver.events
    assert marker == {"type": "events-lost", "reason": "retention", "firstSeq": 1,
                      "lastSeq": 20, "count": 20, "seq": 21}
    assert [e["n"] for e in rest] == [20, 21, 22, 23, 24]
    assert [e["seq"] for e in rest] == [22, 23, 24, 25, 26]
    assert await sink.drain(task, 5)

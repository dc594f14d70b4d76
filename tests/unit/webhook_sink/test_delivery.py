from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from classroom_inference.serving.events import EventHub
from classroom_inference.serving.outbox import Outbox
from classroom_inference.serving.sink import Envelope, WebhookSink
from classroom_inference.serving.spool import Spool

ENVELOPE = Envelope(pod="web-0", model="school/attention", fingerprint="0123456789abcdef")


def _sink(tmp_path: Path, url: str, *, max_bytes: int = 1 << 22, **kw: Any) -> WebhookSink:
    spool = Spool(tmp_path / "spool", max_bytes=max_bytes, segment_bytes=4096)
    sink = WebhookSink(spool, token="t0ken", envelope=ENVELOPE, flush_seconds=0.01,
                       backoff_seconds=0.02, backoff_cap_seconds=0.1, **kw)
    sink.set_url(url)
    return sink


async def test_sink_down_then_up_loses_nothing_and_keeps_order(tmp_path: Path,
                                                               receiver: Any) -> None:
    sink = _sink(tmp_path, receiver.url, max_events=50)
    outbox = Outbox(EventHub(), sink)
    task = asyncio.create_task(sink.run())
    for i in range(300):  # the receiver is down: connection refused
        outbox.publish({"type": "series", "classroom": "room-101", "n": i})
        if i % 50 == 0:
            await asyncio.sleep(0.02)
    await asyncio.sleep(0.2)
    assert sink.stats.failures >= 2 and receiver.events == []
    await receiver.up()
    await receiver.until(300)
    assert [e["n"] for e in receiver.events] == list(range(300))
    assert [e["seq"] for e in receiver.events] == list(range(1, 301))
    body = receiver.bodies[0]
    assert (body["pod"], body["model"], body["fingerprint"]) == (
        "web-0", "school/attention", "0123456789abcdef")
    assert all(len(b["events"]) <= 50 for b in receiver.bodies)
    assert receiver.headers[0]["Authorization"] == "Bearer t0ken"
    assert await sink.drain(task, 5)


async def test_errors_retried_rejections_skipped_large_batches_split(tmp_path: Path,
                                                                      receiver: Any) -> None:
    await receiver.up()
    receiver.answers = [503, 429, 500]
    receiver.max_events = 10
    sink = _sink(tmp_path, receiver.url, max_events=40)
    outbox = Outbox(EventHub(), sink)
    task = asyncio.create_task(sink.run())
    for i in range(40):
        outbox.publish({"type": "series", "n": i})
    await receiver.until(40)
    assert [e["n"] for e in receiver.events] == list(range(40))
    assert sink.stats.failures >= 3
    receiver.answers = [400]  # this batch is refused for good: skipped, later ones still go
    outbox.publish({"type": "series", "n": 40})
    await asyncio.sleep(0.1)
    outbox.publish({"type": "series", "n": 41})
    await receiver.until(41)
    assert receiver.events[-1]["n"] == 41
    assert sink.stats.rejected == 1
    assert await sink.drain(task, 5)


async def test_drain_flushes_and_a_restart_delivers_what_was_left(tmp_path: Path,
                                                                  receiver: Any) -> None:
    sink = _sink(tmp_path, receiver.url)
    outbox = Outbox(EventHub(), sink)
    task = asyncio.create_task(sink.run())
    for i in range(25):
        outbox.publish({"type": "alert", "n": i})
    assert not await sink.drain(task, 0.3)  # receiver down: drain gives up, spool keeps them
    await receiver.up()
    restarted = _sink(tmp_path, receiver.url)
    assert restarted.spool.last_record() is not None
    task = asyncio.create_task(restarted.run())
    await receiver.until(25)
    assert [e["n"] for e in receiver.events] == list(range(25))
    assert await restarted.drain(task, 5)


async def test_a_full_spool_reports_the_lost_range(tmp_path: Path, receiver: Any) -> None:
    sink = _sink(tmp_path, receiver.url, max_bytes=8192)
    outbox = Outbox(EventHub(), sink)
    for i in range(400):  # nothing delivers meanwhile: the spool fills and refuses
        outbox.publish({"type": "series", "n": i})
    assert outbox.lost > 0 and sink.spool.full
    kept = 400 - outbox.lost
    await receiver.up()
    task = asyncio.create_task(sink.run())
    await receiver.until(kept)
    n = 400
    while not any(e["type"] == "events-lost" for e in receiver.events):
        outbox.publish({"type": "series", "n": n})  # lost until delivery makes room
        n += 1
        await asyncio.sleep(0.02)
    await receiver.until(kept + 2)
    marker, after = receiver.events[kept : kept + 2]
    assert marker["type"] == "events-lost" and marker["count"] == outbox.lost
    assert (marker["firstSeq"], marker["lastSeq"]) == (kept + 1, marker["seq"] - 1)
    assert after["seq"] == marker["seq"] + 1 and after["n"] >= 400
    seqs = [e["seq"] for e in receiver.events]
    assert seqs == sorted(seqs)
    assert await sink.drain(task, 5)


async def test_the_sink_tells_when_it_last_delivered(tmp_path: Path, receiver: Any) -> None:
    sink = _sink(tmp_path, receiver.url)
    outbox = Outbox(EventHub(), sink)
    task = asyncio.create_task(sink.run())
    outbox.publish({"type": "series", "classroom": "room-101", "n": 0})
    await asyncio.sleep(0.2)  # down: connection refused
    assert sink.stats.last_delivered_at is None and sink.stats.last_error is not None
    age = sink.spool.oldest_undelivered_age()
    assert age is not None and age > 0
    await receiver.up()
    await receiver.until(1)
    for _ in range(100):
        if sink.spool.oldest_undelivered_age() is None:
            break
        await asyncio.sleep(0.02)
    assert sink.spool.oldest_undelivered_age() is None
    assert sink.stats.last_delivered_at is not None and sink.stats.last_error is None
    assert await sink.drain(task, 5)

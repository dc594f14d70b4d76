from __future__ import annotations

import asyncio

from classroom_inference.serving.events import QUEUE_EVENTS, EventHub, messages


async def _read(subscriber: object, count: int) -> list[bytes]:
    out: list[bytes] = []
    stream = messages(subscriber)  # type: ignore[arg-type]
    async with asyncio.timeout(5):
        async for chunk in stream:
            out.append(chunk)
            if len(out) == count:
                break
    return out


async def test_a_slow_subscriber_is_dropped_without_holding_back_the_others() -> None:
    hub = EventHub()
    slow = hub.subscribe()
    fast = hub.subscribe(classroom="room-101")
    received: list[bytes] = []
    for seq in range(QUEUE_EVENTS + 10):
        hub.publish("series", "room-101", seq, b'{"n":%d}' % seq)
        received.append(fast.queue.get_nowait())  # keeps up
    assert hub.subscribers == 1 and hub.dropped_subscribers == 1
    assert len(received) == QUEUE_EVENTS + 10
    chunks = await _read(slow, QUEUE_EVENTS + 1)
    assert chunks[0].startswith(b": ")
    assert chunks[-1].startswith(b"event: dropped")
    assert slow.queue.empty()


async def test_filters_by_classroom_and_type_and_close_ends_streams() -> None:
    hub = EventHub()
    alerts = hub.subscribe(classroom="room-101", types=frozenset({"alert"}))
    hub.publish("alert", "room-102", 1, b"{}")
    hub.publish("series", "room-101", 2, b"{}")
    hub.publish("alert", "room-101", 3, b'{"x":1}')
    hub.close()
    chunks = await _read(alerts, 10)
    assert chunks[1:] == [b'id: 3\nevent: alert\ndata: {"x":1}\n\n']

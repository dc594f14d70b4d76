"""`Last-Event-ID` on the live feed: a subscriber that reconnects gets what it missed from the
hub's bounded replay buffer, then the live feed, and is told whether the replay was complete."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from classroom_inference.serving.events import EventHub, messages

from .conftest import Harness


async def _drain(hub: EventHub, subscriber: Any) -> list[bytes]:
    hub.close()
    out: list[bytes] = []
    async with asyncio.timeout(5):
        async for chunk in messages(subscriber):
            out.append(chunk)
    return out[1:]  # the opening comment


def _publish(hub: EventHub, seqs: range, classroom: str = "room-101") -> None:
    for seq in seqs:
        hub.publish("series", classroom, seq, b'{"seq":%d}' % seq)


def _resumed(chunk: bytes) -> dict[str, Any]:
    assert chunk.startswith(b"event: resumed\ndata: ")
    return dict(json.loads(chunk.split(b"data: ", 1)[1]))


async def test_a_reconnect_gets_the_events_after_its_last_id_then_the_live_feed() -> None:
    hub = EventHub()
    _publish(hub, range(1, 6))
    _publish(hub, range(6, 8), classroom="room-102")
    back = hub.subscribe(classroom="room-101", after=2)
    _publish(hub, range(8, 9))
    chunks = await _drain(hub, back)
    ids = [int(c.split(b"\n", 1)[0][4:]) for c in chunks if c.startswith(b"id: ")]
    assert ids == [3, 4, 5, 8]  # room-102's events are not this subscriber's
    assert _resumed(chunks[3]) == {"after": 2, "replayed": 3, "complete": True}


async def test_a_replay_that_lost_events_says_it_is_incomplete() -> None:
    hub = EventHub(replay_events=4)
    _publish(hub, range(1, 11))  # 1..6 were pushed out by the bound
    chunks = await _drain(hub, hub.subscribe(after=3))
    assert next(c for c in chunks if c.startswith(b"id: ")).startswith(b"id: 7\n")
    assert _resumed(chunks[4]) == {"after": 3, "replayed": 4, "complete": False}


async def test_events_older_than_the_retention_are_not_replayed() -> None:
    now = [1000.0]
    hub = EventHub(replay_seconds=60, clock=lambda: now[0])
    _publish(hub, range(1, 3))
    now[0] += 61
    _publish(hub, range(3, 4))
    chunks = await _drain(hub, hub.subscribe(after=0))
    assert chunks[0].startswith(b"id: 3\n")
    assert _resumed(chunks[1])["complete"] is False


async def test_a_subscriber_without_last_event_id_gets_only_the_live_feed() -> None:
    hub = EventHub()
    _publish(hub, range(1, 4))
    chunks = await _drain(hub, hub.subscribe())
    assert chunks == []


async def test_a_malformed_last_event_id_is_refused_naming_the_header(
        harness: Harness, streams: Any, synthetic_url: Any) -> None:
    harness.write(streams({"room-101-0": synthetic_url("a")}))
    client = await harness.open()
    response = await client.get("/v1/events", headers={"Last-Event-ID": "seven"})
    assert response.status == 400
    assert "Last-Event-ID" in (await response.json())["message"]


async def _read_ids(response: Any, count: int) -> list[int]:
    ids: list[int] = []
    async with asyncio.timeout(20):
        while len(ids) < count:
            line = (await response.content.readline()).decode()
            if line.startswith("id: "):
                ids.append(int(line[4:]))
    return ids


async def test_a_real_pod_resumes_a_reconnecting_subscriber_without_a_gap(
        harness: Harness, streams: Any, synthetic_url: Any) -> None:
    harness.write(streams({f"room-101-{i}": synthetic_url(str(i)) for i in range(2)}))
    client = await harness.open()
    assert harness.pod is not None
    await harness.pod.start()
    first = await client.get("/v1/events", params={"classroom": "room-101"})
    seen = await _read_ids(first, 3)
    first.close()
    await asyncio.sleep(2.5)  # the pod goes on labelling while nobody listens
    again = await client.get("/v1/events", params={"classroom": "room-101"},
                             headers={"Last-Event-ID": str(seen[-1])})
    resumed = await _read_ids(again, 4)
    again.close()
    assert resumed[0] == seen[-1] + 1  # every event of the pod is room-101's here
    assert resumed == sorted(resumed) and len(set(resumed)) == len(resumed)

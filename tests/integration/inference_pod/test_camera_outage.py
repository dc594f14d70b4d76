"""A real RTSP camera dies mid-run and comes back: its gap is marked, no one is alerted, and
the other camera's labels keep coming at full rate."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streams import videos
from streams.server import RtspServer


@pytest.fixture
def rtsp(tmp_path: Path) -> Iterator[tuple[RtspServer, Path]]:
    server = RtspServer(tmp_path / "mediamtx")
    server.start()
    bright = videos.brightness_video(tmp_path / "bright.mp4", [220] * 50, fps=25)
    yield server, bright
    server.stop()


async def test_a_camera_outage_is_a_gap_not_distraction(serve: Any, receiver: Any,
                                                        rtsp: Any) -> None:
    server, video = rtsp
    dying = server.publish("cam-a", video)
    server.publish("cam-b", video)
    await receiver.up()
    streams = {"room-101-0": server.url("cam-a"), "room-101-1": server.url("cam-b")}
    serve.assign(streams, sink=receiver.url, distractedAfterSeconds=1.5)
    await serve.start()

    async def state_of(stream_id: str) -> str:
        doc = await serve.status()
        return str({s["id"]: s["state"] for s in doc["classrooms"][0]["streams"]}[stream_id])

    async def both_healthy() -> bool:
        return await state_of("room-101-0") == "Healthy" == await state_of("room-101-1")

    await serve.until(both_healthy, "both cameras healthy")
    await asyncio.sleep(2)
    dying.kill()
    a, b = serve.student("room-101-0"), serve.student("room-101-1")

    async def gap_seen() -> bool:
        return any(e["student"] == a for e in receiver.of("gap-started"))

    await serve.until(gap_seen, "the dead camera's gap to start")
    await asyncio.sleep(3)  # an outage twice as long as distractedAfterSeconds
    server.publish("cam-a", video)

    async def back() -> bool:
        return any(e["student"] == a for e in receiver.of("gap-ended"))

    await serve.until(back, "the camera to come back", 40)
    await asyncio.sleep(1.5)
    assert await serve.terminate() == 0
    receiver.assert_complete()
    assert receiver.of("alert") == []
    ended = [e for e in receiver.of("gap-ended") if e["student"] == a]
    assert len(ended) == 1 and ended[0]["seconds"] > 3
    missing = [e for e in receiver.of("series") if e["student"] == a and e["state"] == "missing"]
    assert len(missing) >= 3
    # the other camera: never missing, and about 25 labels a second all along
    steady = [e for e in receiver.of("series") if e["student"] == b]
    first = next(i for i, p in enumerate(steady) if p["samples"])  # missing until it connects
    steady = steady[first:]
    assert all(p["state"] == "focused" for p in steady[1:-1])
    rates = sorted(p["samples"] for p in steady[1:-1])
    assert rates[len(rates) // 2] >= 22 and rates[0] >= 5  # full rate; never a stalled second
    assert not [e for e in receiver.of("gap-started") if e["student"] == b]

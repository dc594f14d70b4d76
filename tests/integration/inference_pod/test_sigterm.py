"""SIGTERM under load: intake stops, queued crops finish, every event reaches the sink."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp


async def test_sigterm_under_load_loses_no_event(serve: Any, receiver: Any, stream_url: Any,
                                                 assert_private: Any) -> None:
    await receiver.up()
    streams = {f"room-101-{i}": stream_url(f"s{i}", "220:1,25:2") for i in range(8)}
    serve.assign(streams, sink=receiver.url)
    await serve.start()
    live = bytearray()

    async def follow() -> None:
        async with aiohttp.ClientSession() as s, s.get(f"{serve.base}/v1/events") as r:
            async for chunk in r.content.iter_any():
                live.extend(chunk)

    follower = asyncio.create_task(follow())
    await asyncio.sleep(3)
    assert await serve.terminate() == 0
    await asyncio.wait_for(follower, 10)  # the live stream ends with the drain
    receiver.assert_complete()
    log = serve.log_text()
    assert "spool delivered" in log
    summaries = receiver.of("student-summary")
    assert {e["student"] for e in summaries} == {serve.student(s) for s in streams}
    last_window = summaries[-len(streams):]
    assert {e["student"] for e in last_window} == {serve.student(s) for s in streams}
    assert receiver.events[-1]["type"] == "class-summary"
    # from the moment it subscribed to the drain, the live feed carried what the webhook got
    live_ids = [int(line[4:]) for line in bytes(live).split(b"\n") if line.startswith(b"id: ")]
    seqs = [e["seq"] for e in receiver.events]
    assert len(live_ids) > len(seqs) // 2 and live_ids == seqs[-len(live_ids):]
    assert_private(bytes(live), list(streams))

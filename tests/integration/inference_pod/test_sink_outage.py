"""The webhook is down for a while: nothing is lost, everything arrives in order after."""

from __future__ import annotations

import asyncio
import json
from typing import Any


async def test_sink_down_then_up_delivers_everything_in_order(
        serve: Any, receiver: Any, stream_url: Any, assert_private: Any) -> None:
    # Dark first: the alerts (2 s distracted) come while the sink is still down, however busy
    # the machine running the test is.
    streams = {f"room-101-{i}": stream_url(f"s{i}", "30:3,220:1.5") for i in range(3)}
    serve.assign(streams, sink=receiver.url)
    await serve.start()

    async def spooling() -> bool:
        sink = (await serve.status())["sink"]
        return bool(sink["failures"] >= 2 and sink["spool"]["bytes"] > 0)

    await serve.until(spooling, "events to pile up in the spool while the sink is down")
    await asyncio.sleep(2)  # down for a while longer: alerts and summaries happen meanwhile
    before = (await serve.status())["events"]["published"]
    await receiver.up()

    async def caught_up() -> bool:
        return len(receiver.events) >= before

    await serve.until(caught_up, "the backlog to be delivered")
    status, metrics = await serve.get("/v1/status"), await serve.get("/metrics")
    assert await serve.terminate() == 0
    receiver.assert_complete()
    kinds = {e["type"] for e in receiver.events}
    assert {"series", "alert", "student-summary", "class-summary"} <= kinds
    assert receiver.authorization == {"Bearer sink-token-1"}
    students = {serve.student(sid) for sid in streams}
    assert {e["student"] for e in receiver.of("series")} == students
    # drain flushed the last window: the final summaries are the last events delivered
    assert receiver.events[-1]["type"] == "class-summary"
    raw = list(streams)
    for body in receiver.bodies:
        assert_private(body, raw)
        assert json.loads(body)["fingerprint"] == "00000000000000bb"
    assert_private(metrics, raw)
    assert_private(status, [])  # stream ids are in the status document by contract

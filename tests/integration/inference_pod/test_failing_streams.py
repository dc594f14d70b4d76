"""Streams that fail or end are marked missing, never read as distraction."""

from __future__ import annotations

import asyncio
from typing import Any


async def test_a_failing_stream_raises_no_alert_and_its_gap_is_marked(
        serve: Any, receiver: Any, stream_url: Any) -> None:
    await receiver.up()
    streams = {
        "room-101-0": stream_url("dark", "20:600"),  # really distracted: the control
        "room-101-1": "rtsp://127.0.0.1:9/no-camera-here",  # never connects
        # 1.5 s of frames, then the camera ends (a stream that stops mid-run)
        "room-101-2": stream_url("ends", "220:600") + "&frames=45",
    }
    serve.assign(streams, sink=receiver.url, distractedAfterSeconds=1.5, summaryEverySeconds=3)
    await serve.start()

    async def failed() -> bool:
        doc = await serve.status()
        states = {s["id"]: s for s in doc["classrooms"][0]["streams"]}
        return bool(states["room-101-1"]["state"] == "Failed")

    await serve.until(failed, "the unreachable camera to be reported Failed")
    doc = await serve.status()
    error = {s["id"]: s for s in doc["classrooms"][0]["streams"]}["room-101-1"]["error"]
    assert "cannot connect" in error and "no-camera-here" not in error
    await asyncio.sleep(4)
    assert await serve.terminate() == 0
    receiver.assert_complete()
    dark, unreachable, ended = (serve.student(s) for s in streams)
    assert {e["student"] for e in receiver.of("alert")} == {dark}
    gaps = [e for e in receiver.of("gap-started") if e["student"] == ended]
    assert len(gaps) == 1 and gaps[0]["reason"] == "no-frames"
    for student in (unreachable, ended):
        points = [e for e in receiver.of("series") if e["student"] == student]
        assert points[-1]["state"] == "missing" and points[-1]["attention"] is None
        final = [e for e in receiver.of("student-summary") if e["student"] == student][-1]
        assert final["seconds"]["distracted"] == 0 and final["alerts"] == 0
        assert final["seconds"]["missing"] > 0
    never = [e for e in receiver.of("series") if e["student"] == unreachable]
    assert all(p["state"] == "missing" for p in never)

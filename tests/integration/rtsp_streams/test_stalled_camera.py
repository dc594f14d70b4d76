"""A camera that hangs with its connection open raises after the read timeout instead of hanging
its stream forever, and the stream comes back when the camera does."""

from __future__ import annotations

import asyncio
from pathlib import Path

from classroom_inference.serving.sources import SourceOptions
from streams.server import RtspServer

from .conftest import stop_all, wait_for, watch

READ_TIMEOUT_S = 1.5


async def test_a_hung_camera_is_reported_stalled_and_recovers(
    rtsp_server: RtspServer, camera_video: Path
) -> None:
    camera = rtsp_server.publish("room-401", camera_video)
    stream = await watch(
        "room-401-0", rtsp_server.url("room-401"), SourceOptions(read_timeout_s=READ_TIMEOUT_S)
    )
    try:
        await wait_for(lambda: len(stream.arrivals) >= 10, "frames", [stream])
        camera.pause()
        await wait_for(lambda: stream.supervisor.stats().last_error is not None, "stall", [stream])
        stalled = stream.supervisor.stats()
        assert stalled.last_error is not None
        assert stalled.last_error.endswith(
            f"room-401: no data for {READ_TIMEOUT_S:g} s; the camera stopped sending"
        ), stalled.last_error
        camera.resume()
        await asyncio.to_thread(rtsp_server.wait_ready, "room-401")
        count = len(stream.arrivals)
        await wait_for(lambda: len(stream.arrivals) >= count + 10, "frames again", [stream])
        assert stream.supervisor.stats().state.value == "Healthy"
    finally:
        await stop_all([stream])
    assert "Failed" in stream.states

"""A camera dies mid-run and comes back: its stream fails, reconnects and is healthy again, while
another camera's frames keep flowing as if nothing happened."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from streams.server import RtspServer

from .conftest import LONGEST_HEALTHY_GAP_S, stop_all, wait_for, watch


async def test_a_camera_that_dies_and_comes_back(
    rtsp_server: RtspServer, camera_video: Path
) -> None:
    dying = rtsp_server.publish("room-201", camera_video)
    rtsp_server.publish("room-202", camera_video)
    a = await watch("room-201-0", rtsp_server.url("room-201"))
    b = await watch("room-202-0", rtsp_server.url("room-202"))
    both = [a, b]
    try:
        await wait_for(lambda: len(a.arrivals) >= 10 and len(b.arrivals) >= 10, "frames", both)
        assert a.states[-1] == "Healthy"

        outage_start = time.monotonic()
        dying.kill()
        await wait_for(lambda: a.supervisor.stats().reconnects >= 2, "reconnect attempts", both)
        dead = a.supervisor.stats()
        assert dead.state.value in ("Failed", "Connecting")
        assert dead.last_error is not None and "room-201" in dead.last_error
        frames_while_dead = len(a.arrivals)
        await asyncio.sleep(1.0)
        assert len(a.arrivals) - frames_while_dead <= 1  # at most one frame still in flight

        dying.start()
        await asyncio.to_thread(rtsp_server.wait_ready, "room-201")  # the loop must run on
        await wait_for(lambda: a.supervisor.state.value == "Healthy", "recovery", both)
        outage_end = time.monotonic()
        await wait_for(lambda: len(a.arrivals) >= frames_while_dead + 10, "frames again", both)
        window_end = time.monotonic()
    finally:
        await stop_all(both)

    # Seen while it was down: Failed (and Connecting between attempts), then Healthy again.
    assert a.states[a.states.index("Failed"):][-1] == "Healthy", a.states
    back = a.supervisor.stats()
    assert back.reconnects >= 2 and back.error is None
    # The dying camera was out for seconds; the other one never paused.
    assert outage_end - outage_start > 2 * LONGEST_HEALTHY_GAP_S
    assert b.gaps_between(outage_start, window_end) < LONGEST_HEALTHY_GAP_S
    assert b.states[-1] == "Healthy" and "Failed" not in b.states, b.states
    assert b.supervisor.stats().reconnects == 0

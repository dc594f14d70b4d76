"""Streams that cannot be read each fail with their own clear error; the good one flows on."""

from __future__ import annotations

import time
from pathlib import Path

from classroom_inference.serving.frames import StreamState
from streams.server import RtspServer

from .conftest import LONGEST_HEALTHY_GAP_S, stop_all, wait_for, watch


async def test_bad_streams_fail_clearly_while_a_good_one_flows(
    rtsp_server: RtspServer, camera_video: Path, sound_only: Path, junk_rtsp: str
) -> None:
    rtsp_server.publish("room-301", camera_video)
    rtsp_server.publish("room-302-microphone", sound_only)
    good = await watch("room-301-0", rtsp_server.url("room-301"))
    await wait_for(lambda: len(good.arrivals) >= 5, "the good stream", [good])
    start = time.monotonic()
    bad = {
        "sound": await watch("room-302-0", rtsp_server.url("room-302-microphone")),
        "junk": await watch("room-303-0", junk_rtsp),
        "absent": await watch("room-304-0", rtsp_server.url("nobody-publishes-here")),
        "malformed": await watch("room-305-0", "rtsp://cam-305:80a/live"),
        "scheme": await watch("room-306-0", "rtmp://cam-306/live"),
    }
    watched = [good, *bad.values()]
    try:
        await wait_for(
            lambda: all(w.supervisor.stats().reconnects >= 2 for k, w in bad.items()
                        if k not in ("malformed", "scheme")),
            "every bad stream to have retried", watched,
        )
        end = time.monotonic()
        stats = {key: w.supervisor.stats() for key, w in bad.items()}
        good_stats = good.supervisor.stats()
    finally:
        await stop_all(watched)

    reasons = {key: s.last_error and (s.reason or "") for key, s in stats.items()}
    assert stats["sound"].last_error is not None
    assert "no video stream (it carries audio aac)" in stats["sound"].last_error
    assert "room-302-microphone" in stats["sound"].last_error
    assert stats["junk"].last_error is not None
    assert "not a stream FFmpeg can read" in stats["junk"].last_error
    assert stats["absent"].last_error is not None
    assert "nobody-publishes-here: not found" in stats["absent"].last_error
    for key in ("malformed", "scheme"):
        assert stats[key].state is StreamState.FAILED, reasons
        assert stats[key].reconnects == 0  # a URL that can never work is not retried
    assert stats["malformed"].reason == "InvalidUrl"
    assert "rtsp://cam-305:80a/live" in (stats["malformed"].error or "")
    assert stats["scheme"].reason == "UnsupportedScheme"
    assert "'rtmp' is not supported" in (stats["scheme"].error or "")

    assert good_stats.state is StreamState.HEALTHY and good_stats.reconnects == 0
    assert good.gaps_between(start, end) < LONGEST_HEALTHY_GAP_S

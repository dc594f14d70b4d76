"""A camera published to a real RTSP server is decoded, and a room camera gives steady seats."""

from __future__ import annotations

import re
from pathlib import Path

from classroom_inference.serving.crops import CropShape, RoomCropper, cut
from classroom_inference.serving.frames import StreamState
from classroom_inference.serving.streams import StreamSupervisor
from streams.collect import Collecting
from streams.server import RtspServer

from .conftest import TEST_BACKOFF


async def test_a_camera_stream_is_decoded(rtsp_server: RtspServer, camera_video: Path) -> None:
    rtsp_server.publish("room-101", camera_video)
    intake = Collecting()
    supervisor = StreamSupervisor("room-101-0", rtsp_server.url("room-101"), intake,
                                  backoff=TEST_BACKOFF)
    supervisor.start()
    try:
        await intake.until(30)
        stats = supervisor.stats()
    finally:
        await supervisor.stop()
    frames = intake.received[:30]
    assert stats.frames_decoded >= 30
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert [f.index for f in frames] == sorted(f.index for f in frames)
    assert stats.state is StreamState.HEALTHY
    assert stats.error is None and stats.reconnects == 0
    assert stats.fps > 0


async def test_a_camera_over_rtsps_is_decoded(rtsp_server: RtspServer, camera_video: Path) -> None:
    rtsp_server.publish("room-102", camera_video)
    url = rtsp_server.secure_url("room-102")
    intake = Collecting()
    supervisor = StreamSupervisor("room-102-0", url, intake, backoff=TEST_BACKOFF)
    supervisor.start()
    try:
        await intake.until(10)
        stats = supervisor.stats()
    finally:
        await supervisor.stop()
    frames = intake.received[:10]
    assert url.startswith("rtsps://")
    assert all(f.image.shape == (240, 320, 3) for f in frames)
    assert stats.state is StreamState.HEALTHY and stats.reconnects == 0
    log = (rtsp_server.workdir / "mediamtx.log").read_text()
    assert re.search(r"\[RTSPS\] \[session \w+\] is reading from path 'room-102'", log)


async def test_a_room_camera_gives_one_crop_per_student_under_steady_seats(
    rtsp_server: RtspServer, room_video: Path
) -> None:
    rtsp_server.publish("room-103", room_video)
    intake = Collecting()
    supervisor = StreamSupervisor("room-103-0", rtsp_server.url("room-103"), intake,
                                  backoff=TEST_BACKOFF)
    cropper = RoomCropper(CropShape(64, 64, 3), detect_every=5)
    supervisor.start()
    try:
        await intake.until(40)
    finally:
        await supervisor.stop()
    seats_per_frame: list[list[str]] = []
    for frame in intake.received[:40]:
        seats = cropper.seats(frame)
        assert all(cut(frame.image, box, cropper.shape).shape == (64, 64, 3) for _, box in seats)
        seats_per_frame.append([seat for seat, _ in seats])
    assert all(seats == ["1", "2", "3", "4", "5"] for seats in seats_per_frame), seats_per_frame

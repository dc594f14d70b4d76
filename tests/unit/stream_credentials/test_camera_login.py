"""Credentials reach a real HTTP camera (FFmpeg's Basic auth) and nothing else."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from classroom_inference.serving.credentials import StreamCredentials
from classroom_inference.serving.sources import SourceOptions
from classroom_inference.serving.streams import Backoff, StreamSupervisor
from localcluster.processes import free_port
from streams import videos
from streams.collect import Collecting

from .conftest import SecretVolume, until

PASSWORD = "n0t-in-any-log:@/%"
NEW_PASSWORD = "r0tated-p@ssword"
QUICK = Backoff(initial_s=0.02, max_s=0.1, jitter=0.0)


class Camera:
    """An HTTP camera on 127.0.0.1 that wants Basic auth and serves a video while it lasts."""

    def __init__(self, video: Path) -> None:
        self.video = video
        self.accepted = {("teacher-cam", PASSWORD)}
        self.logins: list[tuple[str, str]] = []  # every Authorization it was sent
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/room-101.mp4"
        self._runner: web.AppRunner | None = None

    async def _video(self, request: web.Request) -> web.StreamResponse:
        header = request.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            self.logins.append((user, password))
            if (user, password) in self.accepted:
                return web.FileResponse(self.video)
        return web.Response(status=401, headers={"WWW-Authenticate": 'Basic realm="camera"'})

    async def up(self) -> None:
        app = web.Application()
        app.router.add_get("/room-101.mp4", self._video)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 s at 10 fps, read in real time: open for as long as a test needs it."""
    path = tmp_path_factory.mktemp("media") / "room-101.mp4"
    return videos.pattern_video(path, seconds=30, fps=10, width=64, height=48)


@pytest.fixture
async def camera(video: Path) -> AsyncIterator[Camera]:
    c = Camera(video)
    await c.up()
    yield c
    await c.down()


def _supervisor(camera: Camera, credentials: StreamCredentials,
                intake: Collecting) -> StreamSupervisor:
    return StreamSupervisor("room-101-0", camera.url, intake, backoff=QUICK,
                            options=SourceOptions(open_timeout_s=5, read_timeout_s=5),
                            connect=credentials.connect)


async def test_the_camera_gets_the_credentials_and_a_change_reconnects_with_the_new_ones(
        camera: Camera, volume: SecretVolume, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    volume.write({"room-101-0": {"username": "teacher-cam", "password": PASSWORD}})
    credentials = StreamCredentials(volume.path)
    credentials.check()
    intake = Collecting()
    supervisor = _supervisor(camera, credentials, intake)
    supervisor.start()
    try:
        await until(lambda: intake.frames >= 5, "frames through the camera's login")
        assert camera.logins[-1] == ("teacher-cam", PASSWORD)
        assert supervisor.stats().reconnects == 0

        camera.accepted.add(("teacher-cam", NEW_PASSWORD))
        volume.write({"room-101-0": {"username": "teacher-cam", "password": NEW_PASSWORD}})
        assert credentials.check() == {"room-101-0"}
        await until(lambda: ("teacher-cam", NEW_PASSWORD) in camera.logins,
                    "a reconnect with the new password")
        frames = intake.frames
        await until(lambda: intake.frames > frames + 3, "frames again after the reconnect")
        stats = supervisor.stats()
        assert stats.reconnects == 1 and stats.state.value == "Healthy"
        assert stats.last_error == (
            "stream room-101-0: its credentials changed; reconnecting with the new ones")
    finally:
        await supervisor.stop()
    shown = " ".join(str(v) for v in (*vars(supervisor.stats()).values(), caplog.text))
    for secret in (PASSWORD, NEW_PASSWORD, "n0t-in-any-log", "teacher-cam"):
        assert secret not in shown


async def test_a_refused_login_is_reported_without_the_credentials(
        camera: Camera, volume: SecretVolume, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    volume.write({"room-101-0": {"username": "teacher-cam", "password": "wrong-" + PASSWORD}})
    credentials = StreamCredentials(volume.path)
    credentials.check()
    intake = Collecting()
    supervisor = _supervisor(camera, credentials, intake)
    supervisor.start()
    try:
        await until(lambda: supervisor.stats().reconnects >= 2, "refused logins retried")
        stats = supervisor.stats()
        assert stats.error is not None and "access refused" in stats.error
        assert camera.url in stats.error  # the URL as assigned, without credentials
        assert intake.frames == 0
    finally:
        await supervisor.stop()
    shown = " ".join(str(v) for v in (*vars(supervisor.stats()).values(), caplog.text))
    for secret in (PASSWORD, "n0t-in-any-log", "teacher-cam"):
        assert secret not in shown


async def test_a_stream_without_credentials_is_served_while_the_file_is_missing(
        volume: SecretVolume) -> None:
    credentials = StreamCredentials(volume.path)  # the Secret was never mounted
    credentials.check()
    assert credentials.error is not None
    intake = Collecting()
    supervisor = StreamSupervisor(
        "room-102-0", "synthetic://room-102?fps=30&width=16&height=16", intake, backoff=QUICK,
        connect=credentials.connect)
    supervisor.start()
    try:
        await until(lambda: intake.frames >= 3, "frames of a stream that needs no login")
    finally:
        await supervisor.stop()

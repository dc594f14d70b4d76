"""A real RTSP server (mediamtx, built once into the user's cache) and camera videos for it."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from classroom_inference.serving.sources import SourceOptions
from classroom_inference.serving.streams import Backoff, StreamSupervisor
from streams import videos
from streams.collect import Collecting
from streams.server import RtspServer

# Short delays so a test sees several reconnects in seconds; the shape is the production one.
TEST_BACKOFF = Backoff(initial_s=0.2, max_s=1.0, jitter=0.3, reset_after_s=2.0)

# At 25 fps a healthy stream's frames come every 40 ms (about 60 ms seen here). A stream held up by
# another's failure (a connect on the event loop, a shared lock) would wait seconds: the whole
# outage or an open timeout.
LONGEST_HEALTHY_GAP_S = 0.5

ROOM = [videos.Student(120, 100), videos.Student(320, 100), videos.Student(520, 100),
        videos.Student(220, 260), videos.Student(420, 260)]


@pytest.fixture(scope="module")
def rtsp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RtspServer]:
    server = RtspServer(tmp_path_factory.mktemp("mediamtx"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def camera_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    return videos.pattern_video(folder / "camera.mp4", seconds=4, fps=25, width=320, height=240)


@pytest.fixture(scope="module")
def room_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    return videos.room_video(folder / "room.mp4", ROOM, seconds=3, fps=25)


@pytest.fixture(scope="module")
def sound_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return videos.audio_only(tmp_path_factory.mktemp("videos") / "sound.m4a", seconds=4)


@dataclass
class Watched:
    """A started supervisor and the intake its frames reach, noting when each came."""

    supervisor: StreamSupervisor
    intake: Collecting
    states: list[str] = field(default_factory=list)

    @property
    def arrivals(self) -> list[float]:
        return self.intake.received_at

    def note_state(self) -> None:
        state = self.supervisor.state.value
        if not self.states or self.states[-1] != state:
            self.states.append(state)

    def gaps_between(self, start: float, end: float) -> float:
        """The longest wait between frames that arrived in [start, end]."""
        times = [t for t in self.arrivals if start <= t <= end]
        assert len(times) >= 2, f"{self.supervisor.stream_id}: no frames in the window"
        return max(b - a for a, b in itertools.pairwise(times))


async def watch(stream_id: str, url: str, options: SourceOptions | None = None) -> Watched:
    intake = Collecting()
    supervisor = StreamSupervisor(stream_id, url, intake, options=options, backoff=TEST_BACKOFF)
    supervisor.start()
    return Watched(supervisor, intake)


async def wait_for(
    check: Callable[[], bool], what: str, watched: list[Watched], give_up_s: float = 60.0
) -> None:
    """Poll until check() holds, noting every stream's state changes on the way."""
    deadline = time.monotonic() + give_up_s
    while not check():
        for w in watched:
            w.note_state()
        if time.monotonic() > deadline:
            states = {w.supervisor.stream_id: w.supervisor.stats() for w in watched}
            raise AssertionError(f"gave up waiting for {what}: {states}")
        await asyncio.sleep(0.02)
    for w in watched:
        w.note_state()


async def stop_all(watched: list[Watched]) -> None:
    for w in watched:
        await w.supervisor.stop()


@pytest.fixture
def junk_rtsp() -> Iterator[str]:
    """A TCP server answering anything with noise, like a camera port taken by something else."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            with conn:
                conn.settimeout(1)
                try:
                    conn.recv(4096)
                    conn.sendall(b"\x00\xffGARBAGE not rtsp at all\r\n\r\n" * 64)
                except OSError:
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"rtsp://127.0.0.1:{listener.getsockname()[1]}/room-102"
    stop.set()
    thread.join()
    listener.close()

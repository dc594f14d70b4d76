"""http(s):// streams through FFmpeg, from a real local HTTP server."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from classroom_inference.serving.sources import (
    SourceOptions,
    StreamEnded,
    StreamUnavailable,
    open_source,
)
from streams.collect import Collecting

from .conftest import read_all


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        return None


@pytest.fixture
def http_root(media: Path, pattern_mp4: Path) -> Iterator[str]:
    handler = functools.partial(QuietHandler, directory=str(media))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


async def test_a_video_over_http_is_decoded_then_ends_as_a_live_stream_would(
    http_root: str,
) -> None:
    intake = Collecting()
    source = open_source("s", f"{http_root}/pattern.mp4", SourceOptions(realtime=False))
    with pytest.raises(StreamEnded, match=r"pattern\.mp4: the stream ended"):
        await source.run(intake)
    await source.close()
    assert len(intake.received) == 50
    assert intake.received[0].image.shape == (240, 320, 3)


async def test_a_missing_http_stream_is_not_found(http_root: str) -> None:
    with pytest.raises(StreamUnavailable, match=r"camera-9\.mjpg: not found"):
        await read_all(open_source("s", f"{http_root}/camera-9.mjpg"))


async def test_a_refused_connection_says_cannot_connect() -> None:
    with pytest.raises(StreamUnavailable, match="cannot connect"):
        await read_all(open_source("s", "http://127.0.0.1:1/live.mjpg"))

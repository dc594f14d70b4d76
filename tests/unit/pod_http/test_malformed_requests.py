"""A malformed request is the client's mistake: answered 4xx, logged as one line at most."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from aiohttp import web
from classroom_inference.serving.app import create_app
from classroom_inference.serving.listener import listen
from classroom_inference.serving.pipeline import Pod, PodSettings

MALFORMED = [
    (b"GARBAGE\r\n\r\n", b"400"),
    (b"BREW /healthz HTTP/1.1\r\nHost: pod\r\n\r\n", b"400"),
    (b"GET /healthz HTTP/1.1\r\nHost: pod\r\nBad Header\r\n\r\n", b"400"),
    (b"GET /healthz HTTP/9.9\r\nHost: pod\r\n\r\n", b"400"),
    (b"GET /healthz HTTP/1.1\r\nHost: pod\r\nContent-Length: abc\r\n\r\n", b"400"),
    (b"GET /healthz?\xff\xfe=1 HTTP/1.1\r\nHost: pod\r\n\r\n", b"400"),
    (b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\nHost: pod\r\n\r\n", b"400"),
    (b"GET /v1/events?types=nope HTTP/1.1\r\nHost: pod\r\n\r\n", b"400"),
    (b"GET /v1/events?classroom=%ff HTTP/1.1\r\nHost: pod\r\n\r\n", b"404"),
    (b"POST /v1/status HTTP/1.1\r\nHost: pod\r\nContent-Type: application/json\r\n"
     b"Content-Length: 5\r\n\r\n{bad}", b"405"),
    (b"DELETE /healthz HTTP/1.1\r\nHost: pod\r\n\r\n", b"405"),
]


async def _ask(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.readline()
    finally:
        writer.close()


async def _bug(request: web.Request) -> web.Response:
    raise RuntimeError("a bug in a handler")


async def test_malformed_requests_log_one_line_and_bugs_keep_their_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    pod = Pod(PodSettings(engine_dir=tmp_path / "engine", assignment=tmp_path / "a.json",
                          pod_name="web-0", id_secret="s" * 32, spool_dir=tmp_path / "spool"))
    app = create_app(pod)
    app.router.add_get("/bug", _bug)
    runner, site = await listen(app, "127.0.0.1", 0)
    try:
        for request, status in MALFORMED:
            caplog.clear()
            answer = await _ask(site.port, request)
            assert answer.split()[1] == status, (request[:40], answer)
            for record in caplog.records:
                if record.name.startswith("asyncio"):
                    continue
                text = caplog.text
                assert record.exc_info is None and "Traceback" not in text, text
                assert "\n" not in record.getMessage(), record.getMessage()
                assert record.levelno <= logging.DEBUG, (record.levelname, record.getMessage())
        caplog.clear()
        assert (await _ask(site.port, b"GET /bug HTTP/1.1\r\nHost: pod\r\n\r\n")).split()[1] \
            == b"500"
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert errors and errors[0].exc_info is not None  # the pod's own failure: traceback
    finally:
        await runner.cleanup()

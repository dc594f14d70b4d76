"""Clients that never finish their request are closed; the pod still answers its probes."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from classroom_inference.serving.app import create_app
from classroom_inference.serving.listener import listen
from classroom_inference.serving.pipeline import Pod, PodSettings

HEADER_SECONDS = 0.5
GIVE_UP_SECONDS = 30.0  # only so that a broken pod fails the test instead of hanging it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _serve(tmp_path: Path, max_connections: int) -> AsyncIterator[str]:
    pod = Pod(PodSettings(engine_dir=tmp_path / "engine", assignment=tmp_path / "a.json",
                          pod_name="web-0", id_secret="s" * 32, spool_dir=tmp_path / "spool"))
    port = _free_port()
    runner, _ = await listen(create_app(pod), "127.0.0.1", port, header_seconds=HEADER_SECONDS,
                             max_connections=max_connections)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def pod_url(tmp_path: Path) -> AsyncIterator[str]:
    async for url in _serve(tmp_path, max_connections=1024):
        yield url


@pytest.fixture
async def small_pod_url(tmp_path: Path) -> AsyncIterator[str]:
    async for url in _serve(tmp_path, max_connections=8):
        yield url


async def _stall(url: str, sent: bytes) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(sent)
    await writer.drain()
    return reader, writer


async def _healthz(url: str) -> int:
    async with aiohttp.ClientSession() as session, session.get(f"{url}/healthz") as response:
        return response.status


async def test_slow_loris_connections_are_closed_and_healthz_answers(pod_url: str) -> None:
    # 500 clients: half stop inside the request line, half inside the headers
    partial = [b"GET /healthz HT", b"GET /healthz HTTP/1.1\r\nHost: pod\r\nX-Slow: 1"]
    clients = [await _stall(pod_url, partial[i % 2]) for i in range(500)]
    try:
        assert await _healthz(pod_url) == 200
        async with asyncio.timeout(GIVE_UP_SECONDS):
            # every stalled client is closed by the pod without an answer
            closed = await asyncio.gather(*(reader.read() for reader, _ in clients))
        assert closed == [b""] * len(clients)
        assert await _healthz(pod_url) == 200
    finally:
        for _, writer in clients:
            writer.close()


async def test_a_client_dribbling_bytes_is_closed_too(pod_url: str) -> None:
    """Each byte arriving does not buy more time: the whole request has the timeout."""
    reader, writer = await _stall(pod_url, b"G")
    try:
        async with asyncio.timeout(GIVE_UP_SECONDS):
            for byte in b"ET /healthz HTTP/1.1\r\nX-Slow: ":
                await asyncio.sleep(HEADER_SECONDS / 5)
                if reader.at_eof():
                    break
                writer.write(bytes([byte]))
            assert await reader.read() == b""
    finally:
        writer.close()


async def test_connections_beyond_the_cap_are_told_busy(small_pod_url: str) -> None:
    clients = [await _stall(small_pod_url, b"GET /he") for _ in range(8)]
    try:
        reader, writer = await _stall(small_pod_url, b"")
        async with asyncio.timeout(GIVE_UP_SECONDS):
            answer = await reader.read()
        writer.close()
        assert answer.startswith(b"HTTP/1.1 503 ") and b"too many connections" in answer
        async with asyncio.timeout(GIVE_UP_SECONDS):
            await asyncio.gather(*(r.read() for r, _ in clients))  # the stalled ones time out
        assert await _healthz(small_pod_url) == 200  # ...and make room again
    finally:
        for _, w in clients:
            w.close()

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer


def document(**changes: Any) -> dict[str, Any]:
    """A status document as docs/contracts.md shows it."""
    base: dict[str, Any] = {
        "ready": True, "fingerprint": "0123456789abcdef", "backend": "onnxruntime-cpu",
        "streams": {"assigned": 3, "healthy": 2},
        "classrooms": [
            {"name": "room-101", "streams": [
                {"id": "room-101-0", "state": "Healthy", "fps": 29.9, "error": None},
                {"id": "room-101-1", "state": "Failed", "fps": 0.0,
                 "error": "connection refused by <stream room-101-1>"}]},
            {"name": "room-102", "streams": [
                {"id": "room-102-0", "state": "Healthy", "fps": 30.0, "error": None}]},
        ],
        "assignment": {"generation": 3, "fingerprint": "0123456789abcdef", "listed": True,
                       "error": None},
    }
    base.update(changes)
    return base


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
async def pod_server() -> AsyncIterator[Callable[..., Awaitable[TestServer]]]:
    """`await pod_server(handler, host="127.0.0.1", port=None)`: a real HTTP server answering
    /v1/status, as a pod does on its own IP."""
    servers: list[TestServer] = []

    async def start(handler: Handler, host: str = "127.0.0.1",
                    port: int | None = None) -> TestServer:
        app = web.Application()
        app.router.add_get("/v1/status", handler)
        server = TestServer(app, host=host, port=port)
        await server.start_server()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client:
        yield client


async def never_answers(_: web.Request) -> web.StreamResponse:
    await asyncio.Event().wait()
    return web.Response()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port

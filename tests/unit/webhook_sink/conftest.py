from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from localcluster.processes import free_port


class Receiver:
    """A real HTTP webhook receiver on a local port that can go down and come back."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.bodies: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.answers: list[int] = []  # statuses to give before answering 200 again
        self.max_events: int | None = None  # larger batches get 413
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received = asyncio.Event()
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.headers.append(dict(request.headers))
        if self.max_events is not None and len(body["events"]) > self.max_events:
            return web.Response(status=413)
        if self.answers:
            status = self.answers.pop(0)
            return web.Response(status=status, headers={"Retry-After": "0"})
        self.bodies.append(body)
        self.events.extend(body["events"])
        self.received.set()
        return web.Response(status=204)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def until(self, count: int) -> None:
        while len(self.events) < count:
            self.received.clear()
            await asyncio.wait_for(self.received.wait(), 30)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    await r.down()


@pytest.fixture
def event() -> Any:
    """event(i) -> the JSON bytes of a small numbered event."""
    return lambda i: json.dumps({"type": "series", "seq": i, "classroom": "room-101"}).encode()

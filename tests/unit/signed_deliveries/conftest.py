from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from localcluster.processes import free_port

CONTRACTS = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"
KEY = b"k3y-of-the-district-webhook-0001"


def documented_verifier() -> tuple[Callable[..., list[dict[str, Any]]], type[Exception]]:
    """The receiver's check exactly as docs/contracts.md gives it, so the docs cannot rot."""
    blocks = re.findall(r"```python\n(.*?)```", CONTRACTS.read_text(), re.S)
    source = next(b for b in blocks if "def verify_classroom_signature" in b)
    namespace: dict[str, Any] = {"__name__": "documented_verifier"}
    exec(compile(source, str(CONTRACTS), "exec"), namespace)
    return namespace["verify_classroom_signature"], namespace["SignatureRejected"]


async def until(check: Callable[[], bool], what: str, give_up_s: float = 30.0) -> None:
    """Poll public state; giving up only stops a broken test from hanging."""
    async with asyncio.timeout(give_up_s):
        while not check():  # noqa: ASYNC110 - the sink and receiver have no event to wait on
            await asyncio.sleep(0.01)
    assert check(), what


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class VerifyingReceiver:
    """A webhook receiver on 127.0.0.1 that checks every delivery with the documented verifier."""

    def __init__(self, keys: list[bytes], clock: Clock) -> None:
        self.verify, self.rejected_error = documented_verifier()
        self.keys = keys
        self.clock = clock
        self.seen: dict[tuple[str, int], float] = {}
        self.events: list[dict[str, Any]] = []
        self.requests: list[tuple[dict[str, str], bytes]] = []  # accepted, raw, for replays
        self.rejections: list[str] = []
        self.answers: list[int] = []  # statuses to give, unverified, before verifying again
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.answers:
            return web.Response(status=self.answers.pop(0), headers={"Retry-After": "0"})
        header = request.headers.get("Classroom-Signature")
        try:
            fresh = self.verify(self.keys, header, body, self.seen, now=self.clock.now)
        except self.rejected_error as exc:
            self.rejections.append(str(exc))
            return web.Response(status=401, text=str(exc))
        self.requests.append(({"Classroom-Signature": header or "",
                               "Content-Type": "application/json"}, body))
        self.events.extend(fresh)
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


@pytest.fixture
def clock() -> Clock:
    return Clock(1_800_000_000.0)


@pytest.fixture
async def receiver(clock: Clock) -> AsyncIterator[VerifyingReceiver]:
    r = VerifyingReceiver([KEY], clock)
    await r.up()
    yield r
    await r.down()

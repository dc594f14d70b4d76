"""Following one pod's live events for one classroom: `GET /v1/events?classroom=<room>` with the
namespace's pod API token, resumed after a dropped connection with `Last-Event-ID`, and its
`GET /v1/status` every few seconds for the room's stream health.

The resume cursor belongs to the pod's uid: a pod of the same name that was deleted and created
again counts its events anew, so it is read from its start (the events it still holds).
A first connection asks for everything after seq 0, so the view opens with the pod's recent
history instead of an empty timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from classroom_operator.classview.rooms import ServingPod
from classroom_operator.classview.timeline import RoomTimeline

POD_PORT = 8080
TYPES = "series,alert,alert-cleared,gap-started,gap-ended,class-summary"
STATUS_SECONDS = 2.0
RETRY_SECONDS = (0.2, 0.5, 1.0, 2.0, 5.0)
log = logging.getLogger(__name__)

TokenSource = Callable[[str], Awaitable[str | None]]  # namespace -> pod API token


@dataclass
class FeedState:
    """What the page shows about a feed: is it connected, how often it resumed."""

    connected: bool = False
    connects: int = 0
    resumes: int = 0
    incomplete_resumes: int = 0
    last_id: int | None = None
    error: str | None = None


@dataclass
class PodFeed:
    pod: ServingPod
    room: str
    timeline: RoomTimeline
    token: TokenSource
    session: aiohttp.ClientSession
    state: FeedState = field(default_factory=FeedState)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def start(self) -> None:
        self.tasks = [asyncio.create_task(self._follow_events()),
                      asyncio.create_task(self._follow_status())]

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.timeline.forget_pod(self.pod.name)

    async def _headers(self) -> dict[str, str]:
        token = await self.token(self.pod.namespace)
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _follow_events(self) -> None:
        url = f"http://{self.pod.ip}:{POD_PORT}/v1/events"
        failures = 0
        while True:
            try:
                headers = await self._headers()
                headers["Last-Event-ID"] = str(self.state.last_id or 0)
                async with self.session.get(
                        url, params={"classroom": self.room, "types": TYPES}, headers=headers,
                        timeout=aiohttp.ClientTimeout(total=None, sock_connect=5,
                                                      sock_read=60)) as response:
                    if response.status != 200:
                        raise ConnectionError(f"HTTP {response.status}")
                    self.state.connected, self.state.error = True, None
                    self.state.connects += 1
                    failures = 0
                    await self._read(response)
                    self.state.error = "the pod ended the stream"
            except asyncio.CancelledError:
                raise
            except Exception as error:
                self.state.error = f"{type(error).__name__}: {error}"[:200]
            self.state.connected = False
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])
            failures += 1

    async def _read(self, response: aiohttp.ClientResponse) -> None:
        kind, data, seq = "message", "", None
        async for raw in response.content:
            line = raw.decode().rstrip("\r\n")
            if line.startswith("id:"):
                seq = int(line[3:].strip())
            elif line.startswith("event:"):
                kind = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
            elif not line:
                if data:
                    self._dispatch(kind, data, seq)
                kind, data, seq = "message", "", None

    def _dispatch(self, kind: str, data: str, seq: int | None) -> None:
        event: dict[str, Any] = json.loads(data)
        if kind == "resumed":
            self.state.resumes += 1
            if not event.get("complete") and (self.state.last_id or 0) > 0:
                self.state.incomplete_resumes += 1
            return
        if kind == "dropped":
            return
        self.timeline.add(self.pod.name, event)
        if seq is not None:
            self.state.last_id = seq

    async def _follow_status(self) -> None:
        url = f"http://{self.pod.ip}:{POD_PORT}/v1/status"
        while True:
            try:
                async with self.session.get(url, headers=await self._headers(),
                                            timeout=aiohttp.ClientTimeout(total=3)) as response:
                    if response.status == 200:
                        document = await response.json(content_type=None)
                        room = next((r for r in document.get("classrooms") or []
                                     if r.get("name") == self.room), None)
                        self.timeline.set_health(self.pod.name, (room or {}).get("streams") or [])
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.debug("status of %s: %s", self.pod.name, error)
            await asyncio.sleep(STATUS_SECONDS)

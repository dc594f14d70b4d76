"""A pod feed against a live feed served by the pod's own EventHub: the connection is cut
twice, the feed resumes with Last-Event-ID, and the timeline has every second once. A pod
replaced by a new one of the same name (a new uid) is read from its start."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from classroom_inference.serving.events import EventHub, messages
from classroom_operator.classview import feeds
from classroom_operator.classview.feeds import PodFeed
from classroom_operator.classview.rooms import ServingPod
from classroom_operator.classview.timeline import RoomTimeline

TOKEN = "pod-api-token-0123456789"


class LivePod:
    """/v1/events as the pod serves it (its hub, Last-Event-ID, the token), cut on demand."""

    def __init__(self) -> None:
        self.hub = EventHub()
        self.seq = 0
        self.last_event_ids: list[str | None] = []
        self.responses: list[web.StreamResponse] = []
        app = web.Application()
        app.router.add_get("/v1/events", self.events)
        app.router.add_get("/v1/status", self.status)
        self.server = TestServer(app, host="127.0.0.1")

    async def events(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.Response(status=401)
        header = request.headers.get("Last-Event-ID")
        self.last_event_ids.append(header)
        subscriber = self.hub.subscribe(request.query.get("classroom"),
                                        after=int(header) if header else None)
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        self.responses.append(response)
        try:
            async for chunk in messages(subscriber):
                await response.write(chunk)
        finally:
            self.hub.unsubscribe(subscriber)
        return response

    async def status(self, request: web.Request) -> web.Response:
        return web.json_response({"classrooms": [{"name": "room-101", "streams": [
            {"id": "room-101-0", "state": "Healthy", "fps": 5.0}]}]})

    def label(self, second: int) -> None:
        self.seq += 1
        event = {"type": "series", "seq": self.seq, "classroom": "room-101", "student": "stu_a",
                 "at": f"2026-12-07T09:00:{second:02d}.000Z", "state": "focused",
                 "attention": 0.9}
        self.hub.publish("series", "room-101", self.seq, json.dumps(event).encode())

    def cut(self) -> None:
        for response in self.responses:
            if response.task is not None:
                response.task.cancel()
        self.responses.clear()


@pytest.fixture
async def live_pod(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[LivePod]:
    pod = LivePod()
    await pod.server.start_server()
    monkeypatch.setattr(feeds, "POD_PORT", pod.server.port)
    yield pod
    await pod.server.close()


async def _until(check: Callable[[], bool], what: str) -> None:
    for _ in range(500):
        if check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{what}: not within 10 s")


async def test_a_cut_feed_resumes_with_last_event_id_and_the_timeline_has_no_gap(
        live_pod: LivePod) -> None:
    timeline = RoomTimeline()

    async def token(namespace: str) -> str:
        return TOKEN

    async with aiohttp.ClientSession() as session:
        feed = PodFeed(ServingPod("school", "web-0", "127.0.0.1", "u1"), "room-101", timeline,
                       token, session)
        feed.start()
        await _until(lambda: feed.state.connected, "connected")
        second = 0
        for _ in range(3):
            for _ in range(5):
                live_pod.label(second)
                second += 1
            await _until(lambda s=second: feed.state.last_id == s, "read")
            live_pod.cut()
            for _ in range(3):  # labelled while the feed is away
                live_pod.label(second)
                second += 1
            await _until(lambda s=second: feed.state.last_id == s, "resumed")
        await feed.stop()
    assert len(timeline.samples["stu_a"]) == second  # every second once, none lost
    assert live_pod.last_event_ids[0] == "0"
    assert live_pod.last_event_ids[1:] == ["5", "13", "21"]
    assert feed.state.resumes == 4 and feed.state.incomplete_resumes == 0


async def test_a_feed_without_the_pods_token_never_reads_an_event(live_pod: LivePod) -> None:
    async def no_token(namespace: str) -> None:
        return None

    async with aiohttp.ClientSession() as session:
        feed = PodFeed(ServingPod("school", "web-0", "127.0.0.1", "u1"), "room-101",
                       RoomTimeline(), no_token, session)
        feed.start()
        await _until(lambda: feed.state.error is not None, "refused")
        await feed.stop()
    assert feed.state.error == "ConnectionError: HTTP 401" and feed.state.connects == 0

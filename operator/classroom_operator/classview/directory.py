"""The view's map of the district, refreshed every few seconds from the API server, and the pod
feeds of the classrooms someone is watching.

A room's feeds start when someone first asks for it and stop after IDLE_SECONDS without a look;
on each refresh they follow the assignment: a pod newly listed for the room (a hand-over) gets a
feed, a pod no longer listed (or replaced by a pod of the same name) loses its feed.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import time
from dataclasses import dataclass, field

import aiohttp

from classroom_operator.classview.api import ApiUnavailable, ViewApi
from classroom_operator.classview.feeds import PodFeed
from classroom_operator.classview.rooms import RoomRef, ServingPod, rooms_from, serving_pods
from classroom_operator.classview.timeline import RoomTimeline

REFRESH_SECONDS = 2.0
IDLE_SECONDS = 600.0
TOKEN_SECONDS = 60.0
POD_API_TOKEN_SECRET = "classroom-pod-api-token"
INFERENCE = "app.kubernetes.io/component=inference"
MODELS = "/apis/classroom-operator.io/v1alpha1/classroommodels"
CLASSROOMS = "/apis/classroom-operator.io/v1alpha1/classrooms"
log = logging.getLogger(__name__)


@dataclass
class Watched:
    timeline: RoomTimeline
    looked_at: float
    feeds: dict[tuple[str, str], PodFeed] = field(default_factory=dict)  # (pod, uid) ->


class Directory:
    def __init__(self, api: ViewApi, *, window_seconds: float) -> None:
        self._api = api
        self._window = window_seconds
        self.rooms: dict[str, RoomRef] = {}
        self.pods: dict[str, list[ServingPod]] = {}
        self.watched: dict[str, Watched] = {}
        self.error: str | None = None
        self._tokens: dict[str, tuple[float, str | None]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._refreshed = asyncio.Event()

    async def refresh(self) -> None:
        models = await self._api.items(MODELS)
        classrooms = await self._api.items(CLASSROOMS)
        configmaps = await self._api.items(f"/api/v1/configmaps?labelSelector={INFERENCE}")
        pods = await self._api.items(f"/api/v1/pods?labelSelector={INFERENCE}")
        self.rooms = rooms_from(models, classrooms, configmaps)
        self.pods = serving_pods(configmaps, pods)
        for key in list(self.watched):
            await self._follow(key)

    async def run(self) -> None:
        while True:
            try:
                await self.refresh()
                self.error = None
            except ApiUnavailable as error:
                self.error = str(error)
                log.warning("cannot refresh the classrooms: %s", error)
            self._refreshed.set()
            await asyncio.sleep(REFRESH_SECONDS)

    async def ready(self) -> None:
        await self._refreshed.wait()

    async def pod_token(self, namespace: str) -> str | None:
        cached = self._tokens.get(namespace)
        if cached is not None and time.monotonic() - cached[0] < TOKEN_SECONDS:
            return cached[1]
        secret = await self._api.get(f"/api/v1/namespaces/{namespace}/secrets/"
                                     f"{POD_API_TOKEN_SECRET}")
        encoded = ((secret or {}).get("data") or {}).get("token")
        token = base64.b64decode(encoded).decode() if encoded else None
        self._tokens[namespace] = (time.monotonic(), token)
        return token

    def timeline(self, key: str) -> tuple[RoomTimeline, list[PodFeed]]:
        """The room's timeline, its feeds started on first use."""
        watched = self.watched.get(key)
        if watched is None:
            watched = self.watched[key] = Watched(RoomTimeline(self._window), time.monotonic())
            asyncio.get_running_loop().create_task(self._follow(key))
        watched.looked_at = time.monotonic()
        return watched.timeline, list(watched.feeds.values())

    async def _follow(self, key: str) -> None:
        watched = self.watched[key]
        if time.monotonic() - watched.looked_at > IDLE_SECONDS:
            for feed in watched.feeds.values():
                await feed.stop()
            del self.watched[key]
            return
        wanted = {(p.name, p.uid): p for p in self.pods.get(key, [])}
        for gone in [k for k in watched.feeds if k not in wanted]:
            await watched.feeds.pop(gone).stop()
        if self._session is None:
            self._session = aiohttp.ClientSession()
        for pod_key, pod in wanted.items():
            if pod_key not in watched.feeds:
                feed = PodFeed(pod, key.split("/", 1)[1], watched.timeline, self.pod_token,
                               self._session)
                watched.feeds[pod_key] = feed
                feed.start()

    async def close(self) -> None:
        for watched in self.watched.values():
            for feed in watched.feeds.values():
                await feed.stop()
        if self._session is not None:
            await self._session.close()
        with contextlib.suppress(Exception):
            await self._api.close()

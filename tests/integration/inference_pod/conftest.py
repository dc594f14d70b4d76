"""The real `classroom-inference serve` process, a real webhook receiver, and payload checks."""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from bench.engines import write_engine
from classroom_inference.serving.pseudonym import Pseudonyms
from localcluster.processes import free_port

FINGERPRINT = "00000000000000bb"
SIZE = 32
SECRET = "integration-secret-0123456789"
CAMERA = "camera-host-never-shown"
SERVE = Path(sys.executable).with_name("classroom-inference")


def synthetic(name: str, pattern: str = "220:600", fps: int = 30) -> str:
    return (f"synthetic://{CAMERA}-{name}?fps={fps}&width={SIZE}&height={SIZE}"
            f"&pattern={pattern}")


class Receiver:
    """A webhook receiver (aiohttp) that can be down (nothing listening) and come up."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.bodies: list[bytes] = []
        self.events: list[dict[str, Any]] = []
        self.authorization: set[str] = set()
        self._runner: web.AppRunner | None = None

    async def _hook(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.bodies.append(body)
        self.events.extend(json.loads(body)["events"])
        self.authorization.add(request.headers.get("Authorization", ""))
        return web.Response(status=204)

    async def up(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def down(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def assert_complete(self) -> None:
        """Every event the pod numbered arrived once, in order: nothing lost, nothing twice."""
        seqs = [e["seq"] for e in self.events]
        assert seqs == list(range(1, len(seqs) + 1)), "events missing, repeated or out of order"


class Serve:
    """One `classroom-inference serve` process on its own port, spool and assignment file."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "store"
        write_engine(self.store, FINGERPRINT, height=SIZE, width=SIZE, batch=(1, 16, 64))
        self.volume = root / "assignment"
        self.volume.mkdir()
        self.version = 0
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "serve.log"
        self.pseudonyms = Pseudonyms(SECRET)

    def assign(self, streams: dict[str, str], *, sink: str | None = None, generation: int = 1,
               layouts: dict[str, str] | None = None, **analysis: float) -> None:
        """Write the assignment as the kubelet updates a ConfigMap volume: a symlink swap.
        Streams are per-student unless `layouts` names another layout for their id."""
        doc: dict[str, Any] = {
            "model": "school/attention", "generation": generation, "fingerprint": FINGERPRINT,
            "analysis": {"distractedAfterSeconds": 2, "attentionThreshold": 0.5,
                         "smoothingSeconds": 0.2, "summaryEverySeconds": 2, **analysis},
            "pods": {"web-0": [{"name": "room-101", "streams": [
                {"id": sid, "url": url, "layout": (layouts or {}).get(sid, "per-student")}
                for sid, url in streams.items()]}]},
        }
        if sink:
            doc["sink"] = {"webhook": {"url": sink}}
        self.version += 1
        folder = self.volume / f"..v{self.version}"
        folder.mkdir()
        (folder / "assignment.json").write_text(json.dumps(doc))
        (self.volume / "..tmp").symlink_to(folder.name)
        os.replace(self.volume / "..tmp", self.volume / "..data")
        link = self.volume / "assignment.json"
        if not link.is_symlink():
            link.symlink_to("..data/assignment.json")

    def student(self, stream_id: str) -> str:
        return self.pseudonyms.student("room-101", stream_id, "0")

    async def start(self) -> None:
        self._spawn()
        await self.until(self.ready, "the pod to become ready", 60)

    def _spawn(self) -> None:
        env = dict(os.environ, CLASSROOM_ID_SECRET=SECRET, POD_NAME="web-0",
                   CLASSROOM_SINK_TOKEN="sink-token-1", CLASSROOM_RUNNER_THREADS="1")
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(SERVE), "serve", "--store", str(self.store), "--fingerprint", FINGERPRINT,
                 "--assignment", str(self.volume / "assignment.json"), "--host", "127.0.0.1",
                 "--port", str(self.port), "--spool-dir", str(self.root / "spool"),
                 "--max-delay-ms", "5", "--drain-seconds", "10"],
                stdout=out, stderr=subprocess.STDOUT, env=env)

    async def ready(self) -> bool:
        try:
            async with aiohttp.ClientSession() as s, s.get(f"{self.base}/readyz") as r:
                return r.status == 200
        except aiohttp.ClientError:
            assert self.process is not None and self.process.poll() is None, self.log_text()
            return False

    async def get(self, path: str) -> bytes:
        async with aiohttp.ClientSession() as s, s.get(f"{self.base}{path}") as r:
            assert r.status == 200, await r.text()
            return await r.read()

    async def status(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(await self.get("/v1/status"))
        return doc

    async def until(self, check: Callable[[], Any], what: str, seconds: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while not await check():
            if loop.time() > deadline:
                raise AssertionError(f"gave up waiting for {what}; log:\n{self.log_text()}")
            await asyncio.sleep(0.1)

    async def terminate(self, seconds: float = 30) -> int:
        """SIGTERM, as the kubelet sends it, and the exit code after the drain."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(asyncio.to_thread(self.process.wait), seconds)
        return code

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    await r.down()


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Serve]:
    pod = Serve(tmp_path)
    yield pod
    pod.kill()


@pytest.fixture
def stream_url() -> Callable[..., str]:
    """stream_url(name, pattern="220:600", fps=30): a synthetic per-student camera."""
    return synthetic


PIXELS = re.compile(rb"\[(\s*\d+\s*,){32,}")  # a run of 32+ integers: an image row
BLOB = re.compile(rb"[A-Za-z0-9+/=]{256,}")  # base64-ish: an encoded image


@pytest.fixture
def assert_private() -> Callable[[bytes, list[str]], None]:
    """assert_private(payload, raw_ids): no pixels, no camera URL, none of the raw ids."""

    def check(payload: bytes, raw_ids: list[str]) -> None:
        assert payload, "nothing to inspect"
        assert not PIXELS.search(payload), "an array of pixel values left the pod"
        assert not BLOB.search(payload), "an encoded blob left the pod"
        assert CAMERA.encode() not in payload, "a camera URL left the pod"
        assert b"synthetic://" not in payload and b"rtsp://" not in payload
        for raw in raw_ids:
            assert raw.encode() not in payload, f"raw id {raw!r} left the pod"

    return check

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from bench.engines import write_engine
from classroom_inference.serving.app import create_app
from classroom_inference.serving.pipeline import Pod, PodSettings

FINGERPRINT = "00000000000000aa"
SIZE = 32
CAMERA = "never-shown-camera-token"


def synthetic(name: str, pattern: str = "220:60") -> str:
    return f"synthetic://{CAMERA}-{name}?fps=30&width={SIZE}&height={SIZE}&pattern={pattern}"


def assignment(streams: dict[str, str], **analysis: float) -> dict[str, Any]:
    return {
        "model": "school/attention",
        "generation": 1,
        "fingerprint": FINGERPRINT,
        "analysis": {
            "distractedAfterSeconds": 30,
            "attentionThreshold": 0.5,
            "smoothingSeconds": 0.2,
            "summaryEverySeconds": 60,
            **analysis,
        },
        "pods": {
            "web-0": [
                {
                    "name": "room-101",
                    "streams": [
                        {"id": sid, "url": url, "layout": "per-student"}
                        for sid, url in streams.items()
                    ],
                }
            ]
        },
    }


class Harness:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.store = root / "store"
        write_engine(self.store, FINGERPRINT, height=SIZE, width=SIZE, batch=(1, 16, 32))
        self.assignment_path = root / "assignment.json"
        self.pod: Pod | None = None
        self.client: TestClient[Any, Any] | None = None

    def write(self, doc: dict[str, Any] | str) -> None:
        tmp = self.root / "assignment.tmp"
        tmp.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        tmp.replace(self.assignment_path)

    async def open(self, **settings: Any) -> TestClient[Any, Any]:
        """`settings`: PodSettings fields beyond the harness's own."""
        self.pod = Pod(
            PodSettings(
                engine_dir=self.store / FINGERPRINT,
                assignment=self.assignment_path,
                pod_name="web-0",
                id_secret="s" * 32,
                spool_dir=self.root / "spool",
                assignment_poll_seconds=0.05,
                drain_seconds=2.0,
                **settings,
            )
        )
        self.client = TestClient(TestServer(create_app(self.pod)))
        await self.client.start_server()
        return self.client

    async def close(self) -> None:
        if self.pod is not None:
            await self.pod.drain()
        if self.client is not None:
            await self.client.close()


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = Harness(tmp_path)
    yield h
    await h.close()


@pytest.fixture
def streams() -> Callable[..., dict[str, Any]]:
    """streams({"id": url, ...}, **analysis) -> an assignment for pod web-0 in room-101."""
    return assignment


@pytest.fixture
def synthetic_url() -> Callable[..., str]:
    return synthetic

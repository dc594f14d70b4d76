from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest


def _document(pods: dict[str, Any], **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "model": "school/attention", "generation": 3, "fingerprint": "0123456789abcdef",
        "analysis": {"distractedAfterSeconds": 30, "attentionThreshold": 0.5,
                     "smoothingSeconds": 2, "summaryEverySeconds": 60},
        "sink": {"webhook": {"url": "https://sink.example/hook"}},
        "pods": pods,
    }
    doc.update(extra)
    return doc


def _room(name: str, *ids: str) -> dict[str, Any]:
    return {"name": name, "streams": [
        {"id": i, "url": f"rtsp://cam.example/{i}", "layout": "per-student"} for i in ids]}


class ConfigMapVolume:
    """A folder laid out as the kubelet lays out a ConfigMap volume: the file is a symlink
    through `..data`, and an update swaps `..data` atomically to a new timestamped folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0
        self.path = root / "assignment.json"

    def write(self, content: str | dict[str, Any]) -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        self.version += 1
        folder = self.root / f"..2026_11_25_{self.version:04d}"
        folder.mkdir()
        (folder / "assignment.json").write_text(text)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(folder.name)
        os.replace(tmp, self.root / "..data")
        if not self.path.is_symlink():
            self.path.symlink_to("..data/assignment.json")


@pytest.fixture
def volume(tmp_path: Path) -> ConfigMapVolume:
    return ConfigMapVolume(tmp_path)


@pytest.fixture
def document() -> Any:
    """document(pods, **top_level_overrides) -> an assignment document as the operator writes it."""
    return _document


@pytest.fixture
def room() -> Any:
    """room(name, *stream_ids) -> one classroom entry of per-student streams."""
    return _room


class ServingPod:
    """A real Pod on a tiny CPU engine, following an assignment file this test writes."""

    FINGERPRINT = "00000000000000aa"
    SIZE = 32

    def __init__(self, root: Path) -> None:
        from bench.engines import write_engine
        from classroom_inference.serving.pipeline import Pod, PodSettings

        write_engine(root / "store", self.FINGERPRINT, height=self.SIZE, width=self.SIZE,
                     batch=(1, 16, 32))
        self.path = root / "assignment.json"
        self.pod = Pod(PodSettings(
            engine_dir=root / "store" / self.FINGERPRINT, assignment=self.path,
            pod_name="web-0", id_secret="s" * 32, spool_dir=root / "spool",
            assignment_poll_seconds=0.05, drain_seconds=1.0))

    def url(self, name: str, fps: float = 30) -> str:
        return (f"synthetic://{name}?fps={fps:g}&width={self.SIZE}&height={self.SIZE}"
                f"&pattern=220:60")

    def assign(self, streams: dict[str, tuple[str, str]], generation: int = 1) -> None:
        """streams: id -> (url, layout), all in room-101."""
        doc = _document({"web-0": [{"name": "room-101", "streams": [
            {"id": sid, "url": url, "layout": layout} for sid, (url, layout) in streams.items()
        ]}]}, generation=generation, fingerprint=self.FINGERPRINT)
        del doc["sink"]
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps(doc))
        tmp.replace(self.path)


@pytest.fixture
async def serving_pod(tmp_path: Path) -> Any:
    pod = ServingPod(tmp_path)
    yield pod
    await pod.pod.drain()

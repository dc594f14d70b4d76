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

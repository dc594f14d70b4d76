from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest


class SecretVolume:
    """A folder laid out as the kubelet lays out a Secret volume: streams.json is a symlink
    through `..data`, and an update swaps `..data` atomically to a new timestamped folder."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.version = 0
        self.path = root / "streams.json"

    def write(self, content: str | dict[str, Any]) -> None:
        text = content if isinstance(content, str) else json.dumps(content)
        self.version += 1
        folder = self.root / f"..2026_12_07_{self.version:04d}"
        folder.mkdir()
        (folder / "streams.json").write_text(text)
        tmp = self.root / "..data_tmp"
        tmp.symlink_to(folder.name)
        os.replace(tmp, self.root / "..data")
        if not self.path.is_symlink():
            self.path.symlink_to("..data/streams.json")


@pytest.fixture
def volume(tmp_path: Path) -> SecretVolume:
    folder = tmp_path / "credentials"
    folder.mkdir()
    return SecretVolume(folder)


async def until(check: Callable[[], bool], what: str, give_up_s: float = 30.0) -> None:
    """Poll public state; giving up only stops a broken test from hanging."""
    async with asyncio.timeout(give_up_s):
        while not check():  # noqa: ASYNC110 - the state has no event to wait on
            await asyncio.sleep(0.01)
    assert check(), what

"""Fixtures for end-to-end builds on the CPU: the reference model, its spec, a store, a server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from unit.engine_build.kit import HttpServer, http_server, write_reference_model


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    return write_reference_model(tmp_path_factory.mktemp("reference"))


@pytest.fixture
def model_spec(reference: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return dict(reference[1])


@pytest.fixture
def store(tmp_path: Path) -> Path:
    path = tmp_path / "engines"
    path.mkdir()
    return path


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


@pytest.fixture(autouse=True)
def quick_fetch(monkeypatch: pytest.MonkeyPatch) -> None:
    """One retry, short timeouts: the failure paths are what these tests exercise."""
    monkeypatch.setenv("CLASSROOM_FETCH_RETRIES", "1")
    monkeypatch.setenv("CLASSROOM_FETCH_BACKOFF_SECONDS", "0.01")
    monkeypatch.setenv("CLASSROOM_FETCH_TIMEOUT_SECONDS", "0.5")


def _mount(*args: str) -> bool:
    import subprocess

    return subprocess.run(["mount", *args], capture_output=True).returncode == 0


@pytest.fixture
def readonly_store(tmp_path: Path) -> Iterator[Path]:
    """A store the builder cannot write: a read-only bind mount (root ignores chmod)."""
    import os
    import subprocess

    path = tmp_path / "readonly-engines"
    path.mkdir()
    if os.geteuid() != 0:
        path.chmod(0o555)
        yield path
        path.chmod(0o755)
        return
    if not _mount("--bind", "-o", "ro", str(path), str(path)):
        pytest.skip("cannot bind-mount read-only here")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)


@pytest.fixture
def full_store(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem too small for the engine: a 128 KiB tmpfs (needs root)."""
    import subprocess

    path = tmp_path / "full-engines"
    path.mkdir()
    if not _mount("-t", "tmpfs", "-o", "size=128k", "tmpfs", str(path)):
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=True)

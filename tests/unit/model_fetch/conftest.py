"""A real local HTTP server and a fetch policy quick enough for failure paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from classroom_inference.builder.fetch import FetchPolicy
from unit.engine_build.kit import HttpServer, http_server


@pytest.fixture
def server() -> Iterator[HttpServer]:
    with http_server() as running:
        yield running


@pytest.fixture
def policy(tmp_path: Path) -> FetchPolicy:
    return FetchPolicy(timeout_s=0.5, retries=2, max_bytes=1 << 20, backoff_s=0.01,
                       s3_endpoint="")

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

# The webhook receiver of the sink's own tests: a real HTTP server on a local port.
from ..webhook_sink.conftest import Receiver


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    yield r
    await r.down()

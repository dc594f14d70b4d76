"""With CLASSROOM_POD_API_TOKEN set, the pod's status document and live events need it as a
bearer token; the probes and /metrics stay open."""

from __future__ import annotations

from typing import Any

import pytest
from classroom_inference.serving.cli import ConfigurationError, api_token

from .conftest import Harness

TOKEN = "t0k3n-of-the-namespace-0123456789"


@pytest.mark.parametrize("path", ["/v1/status", "/v1/events"])
async def test_status_and_events_refuse_a_missing_or_wrong_token(
        harness: Harness, streams: Any, synthetic_url: Any, path: str) -> None:
    harness.write(streams({"room-101-0": synthetic_url("a")}))
    client = await harness.open(api_token=TOKEN)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        response = await client.get(path, headers=headers)
        assert response.status == 401, headers
        assert response.headers["WWW-Authenticate"].startswith("Bearer")
        assert "API token" in (await response.json())["message"]


async def test_the_token_opens_status_and_the_probes_stay_open(
        harness: Harness, streams: Any, synthetic_url: Any) -> None:
    harness.write(streams({"room-101-0": synthetic_url("a")}))
    client = await harness.open(api_token=TOKEN)
    response = await client.get("/v1/status", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status == 200
    assert "streams" in await response.json()
    for open_path in ("/healthz", "/metrics"):
        assert (await client.get(open_path)).status == 200


async def test_without_a_token_the_status_is_open(
        harness: Harness, streams: Any, synthetic_url: Any) -> None:
    harness.write(streams({"room-101-0": synthetic_url("a")}))
    client = await harness.open()
    assert (await client.get("/v1/status")).status == 200


def test_a_short_token_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigurationError, match="CLASSROOM_POD_API_TOKEN"):
        api_token("short")
    assert api_token("") is None and api_token(None) is None
    assert api_token(TOKEN) == TOKEN

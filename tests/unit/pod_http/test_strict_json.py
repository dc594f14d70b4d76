"""Everything the pod writes is strict JSON, and thresholds that are not numbers are refused."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from classroom_inference.serving.app import _json
from classroom_inference.serving.events import EventHub
from classroom_inference.serving.outbox import Outbox


def strict(text: str | bytes) -> Any:
    """json.loads that refuses NaN, Infinity and -Infinity, as most receivers' parsers do."""

    def refuse(token: str) -> Any:
        raise AssertionError(f"not JSON: {token}")

    return json.loads(text, parse_constant=refuse)


async def _until(check: Any, what: str) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_a_non_finite_threshold_is_refused_and_the_previous_keeps_running(
    harness: Any, streams: Any, synthetic_url: Any
) -> None:
    harness.write(streams({"s0": synthetic_url("a", "220:1,20:3")}, distractedAfterSeconds=1))
    client = await harness.open()
    await harness.pod.start()
    before = harness.pod.analysis.settings
    for field, value in (("smoothingSeconds", float("nan")),
                         ("attentionThreshold", float("nan")),
                         ("distractedAfterSeconds", float("inf"))):
        bad = streams({"s0": synthetic_url("a")}, **{field: value})
        bad["generation"] = 2
        harness.write(json.dumps(bad))  # Python writes the NaN and Infinity tokens

        async def refused(field: str = field) -> bool:
            doc = strict(await (await client.get("/v1/status")).text())
            return f"analysis.{field} must be a finite number" in (
                doc["assignment"]["error"] or "")

        await _until(refused, f"{field}={value} refused")
        doc = strict(await (await client.get("/v1/status")).text())
        assert doc["assignment"]["generation"] == 1 and doc["ready"] is True
        assert harness.pod.analysis.settings == before

    # the feed (series, alerts, gaps) parses strictly while the refused files come and go
    response = await client.get("/v1/events?types=series,alert")
    seen: set[str] = set()
    async with asyncio.timeout(20):
        async for line in response.content:
            if line.startswith(b"data: "):
                event = strict(line[6:])
                seen.add(event["type"])
                if event["type"] == "series":
                    assert event["attention"] is None or 0 <= event["attention"] <= 1
                if seen == {"series", "alert"}:
                    break
    response.close()


def test_the_encoders_refuse_non_finite_numbers() -> None:
    """A NaN that slipped past its source fails loudly instead of leaving as invalid JSON."""
    hub = EventHub()
    subscriber = hub.subscribe()
    with pytest.raises(ValueError, match="JSON compliant"):
        Outbox(hub, None).publish({"type": "series", "classroom": "room-101",
                                   "attention": float("nan")})
    assert subscriber.queue.empty()
    with pytest.raises(ValueError, match="JSON compliant"):
        _json({"fps": float("inf")})

"""The pod's privacy settings seen from outside: emotion policy, credentials, retention metric."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import pytest
from bench.engines import EMOTIONS, write_engine
from classroom_inference.serving.errors import ConfigurationError
from classroom_inference.serving.policy import InferencePolicy

from .conftest import FINGERPRINT, SIZE


async def _until(check: Any, what: str) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def _events_until_class_summary(client: Any) -> list[str]:
    """The live feed's data lines, up to and including the first class summary."""
    response = await client.get("/v1/events")
    lines: list[str] = []
    async with asyncio.timeout(30):
        async for line in response.content:
            if line.startswith(b"data: "):
                lines.append(line[6:].decode())
                if json.loads(line[6:])["type"] == "class-summary":
                    break
    response.close()
    return lines


def _mentions_emotion(text: str) -> list[str]:
    return re.findall(rf"emotion|{'|'.join(EMOTIONS)}", text, re.IGNORECASE)


@pytest.mark.parametrize("emotion", [True, False])
async def test_with_emotion_disabled_no_event_status_or_metric_carries_it(
        harness: Any, streams: Any, synthetic_url: Any, emotion: bool) -> None:
    harness.write(streams({"s0": synthetic_url("a"), "s1": synthetic_url("b")},
                          summaryEverySeconds=1))
    client = await harness.open(policy=InferencePolicy(emotion=emotion))
    await harness.pod.start()
    events = await _events_until_class_summary(client)
    kinds = {json.loads(e)["type"] for e in events}
    assert {"series", "student-summary", "class-summary"} <= kinds
    status = await (await client.get("/v1/status")).json()
    metrics = await (await client.get("/metrics")).text()
    assert status["policy"] == {"emotion": "enabled" if emotion else "disabled"}
    status_without_policy = json.dumps({k: v for k, v in status.items() if k != "policy"})
    if emotion:  # the same checks find it when it is allowed: they can fail
        assert _mentions_emotion("\n".join(events)) and "emotion" in status["engine"]["heads"]
        return
    assert _mentions_emotion("\n".join(events)) == []
    assert _mentions_emotion(status_without_policy) == []
    assert _mentions_emotion(metrics) == []
    assert status["engine"]["heads"] == ["attention", "engagement"]
    series = next(json.loads(e) for e in events if json.loads(e)["type"] == "series")
    assert "attention" in series and "engagement" in series  # the rest is served as before


async def test_an_emotion_only_engine_cannot_start_with_emotion_disabled(
        harness: Any, tmp_path: Path) -> None:
    write_engine(harness.store, FINGERPRINT, height=SIZE, width=SIZE, heads=("emotion",))
    harness.write({"model": "school/mood", "generation": 1, "fingerprint": FINGERPRINT,
                   "pods": {}})
    await harness.open(policy=InferencePolicy(emotion=False))
    with pytest.raises(ConfigurationError, match="only an emotion head and --emotion disabled"):
        await harness.pod.start()


async def test_a_missing_credentials_file_is_reported_and_other_streams_served(
        harness: Any, streams: Any, synthetic_url: Any, tmp_path: Path) -> None:
    harness.write(streams({"s0": synthetic_url("a")}))
    missing = tmp_path / "credentials" / "streams.json"
    client = await harness.open(stream_credentials=missing)
    await harness.pod.start()

    async def served_and_reported() -> bool:
        doc = await (await client.get("/v1/status")).json()
        return bool(doc["streams"]["healthy"] == 1 and doc["credentials"]["error"])

    await _until(served_and_reported, "s0 healthy while the credentials file is missing")
    doc = await (await client.get("/v1/status")).json()
    assert str(missing) in doc["credentials"]["error"]
    assert re.search(r"classroom_credentials_error\{[^}]*\} 1\.0",
                     await (await client.get("/metrics")).text())
    missing.parent.mkdir()
    missing.write_text(json.dumps({"s9": {"username": "cam", "password": "hunter22-secret"}}))

    async def accepted() -> bool:
        doc = await (await client.get("/v1/status")).json()
        return bool(doc["credentials"] == {"streams": 1, "error": None})

    await _until(accepted, "the file, once mounted, is read without a restart")
    assert "hunter22" not in await (await client.get("/v1/status")).text()
    assert "hunter22" not in await (await client.get("/metrics")).text()


async def test_the_spool_retention_shows_in_status_and_metrics(
        harness: Any, streams: Any, synthetic_url: Any) -> None:
    harness.write(streams({"s0": synthetic_url("a")}))
    client = await harness.open(spool_retention_seconds=3600.0)
    await harness.pod.start()
    doc = await (await client.get("/v1/status")).json()
    assert doc["sink"]["spool"]["retentionSeconds"] == 3600.0
    assert doc["sink"]["spool"]["expiredEvents"] == 0
    text = await (await client.get("/metrics")).text()
    assert re.search(r'classroom_inference_spool_expired_events_total\{'
                     r'fingerprint="00000000000000aa",model="attention",namespace="school"\} 0\.0',
                     text)

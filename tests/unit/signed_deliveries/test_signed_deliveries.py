from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from classroom_inference.cli import main
from classroom_inference.serving.events import EventHub
from classroom_inference.serving.outbox import Outbox
from classroom_inference.serving.signing import signature
from classroom_inference.serving.sink import Envelope, WebhookSink
from classroom_inference.serving.spool import Spool
from localcluster.processes import free_port

from .conftest import KEY, Clock, VerifyingReceiver, until

ENVELOPE = Envelope(pod="web-0", model="school/attention", fingerprint="0123456789abcdef")
HEADER = re.compile(r"t=(\d+),v1=([0-9a-f]{64})")


def _sink(folder: Path, url: str, key: bytes, clock: Clock) -> tuple[WebhookSink, Outbox]:
    spool = Spool(folder, max_bytes=1 << 22, segment_bytes=4096)
    sink = WebhookSink(spool, token=None, envelope=ENVELOPE, signing_key=key, clock=clock,
                       flush_seconds=0.01, backoff_seconds=0.02, backoff_cap_seconds=0.1)
    sink.set_url(url)
    return sink, Outbox(EventHub(), sink)


async def _until(receiver: VerifyingReceiver, count: int) -> None:
    await until(lambda: len(receiver.events) >= count, f"{count} events received")


async def _post(url: str, headers: dict[str, str], body: bytes) -> int:
    async with aiohttp.ClientSession() as session, session.post(
            url, data=body, headers=headers) as response:
        return response.status


async def test_signed_deliveries_are_accepted_and_forgeries_refused(
        tmp_path: Path, receiver: VerifyingReceiver, clock: Clock) -> None:
    sink, outbox = _sink(tmp_path / "spool", receiver.url, KEY, clock)
    task = asyncio.create_task(sink.run())
    for i in range(30):
        outbox.publish({"type": "series", "classroom": "room-101", "attention": i / 30})
    await _until(receiver, 30)
    assert [e["seq"] for e in receiver.events] == list(range(1, 31))
    assert receiver.rejections == []
    headers, body = receiver.requests[0]
    match = HEADER.fullmatch(headers["Classroom-Signature"])
    assert match is not None and int(match.group(1)) == int(clock.now)

    # The same signature over a changed body: refused, nothing taken.
    forged = body.replace(b'"attention":0.0', b'"attention":0.9')
    assert forged != body
    assert await _post(receiver.url, headers, forged) == 401
    # A signature made with another key over the genuine body: refused.
    stranger = {**headers, "Classroom-Signature": signature(
        b"not-the-district-key-000000", body, int(clock.now))}
    assert await _post(receiver.url, stranger, body) == 401
    # No signature at all: refused.
    assert await _post(receiver.url, {"Content-Type": "application/json"}, body) == 401
    assert receiver.rejections == ["signature does not match"] * 2 + [
        "missing or malformed Classroom-Signature"]
    assert len(receiver.events) == 30
    assert await sink.drain(task, 5)


async def test_a_pod_with_the_wrong_key_is_refused_and_keeps_its_events(
        tmp_path: Path, receiver: VerifyingReceiver, clock: Clock) -> None:
    sink, outbox = _sink(tmp_path / "spool", receiver.url, b"a-stale-key-nobody-shares-01", clock)
    task = asyncio.create_task(sink.run())
    for _ in range(5):
        outbox.publish({"type": "alert", "classroom": "room-101"})
    await until(lambda: sink.stats.failures >= 3, "three refused deliveries")
    assert receiver.events == [] and sink.stats.last_error == "HTTP 401"
    assert set(receiver.rejections) == {"signature does not match"}
    assert not await sink.drain(task, 0.2)  # refused deliveries stay spooled
    fixed, _ = _sink(tmp_path / "spool", receiver.url, KEY, clock)  # the key is put right
    task = asyncio.create_task(fixed.run())
    await _until(receiver, 5)
    assert [e["seq"] for e in receiver.events] == [1, 2, 3, 4, 5]
    assert await fixed.drain(task, 5)


async def test_replays_are_dropped_inside_the_window_and_refused_after_it(
        tmp_path: Path, receiver: VerifyingReceiver, clock: Clock) -> None:
    sink, outbox = _sink(tmp_path / "spool", receiver.url, KEY, clock)
    task = asyncio.create_task(sink.run())
    for _ in range(3):
        outbox.publish({"type": "alert", "classroom": "room-101"})
    await _until(receiver, 3)
    headers, body = receiver.requests[0]
    # Replayed at once: the signature holds, but (pod, seq) was seen: acknowledged, no effect.
    assert await _post(receiver.url, headers, body) == 204
    assert len(receiver.events) == 3
    # Replayed 301 s later: the timestamp is too old.
    clock.now += 301
    assert await _post(receiver.url, headers, body) == 401
    assert receiver.rejections == ["signed more than 300 s from now: replayed or clock skew"]
    # The pod itself signs with the time of each attempt, so its new deliveries still pass.
    outbox.publish({"type": "alert", "classroom": "room-101"})
    await _until(receiver, 4)
    assert receiver.events[-1]["seq"] == 4
    assert await sink.drain(task, 5)


async def test_a_retry_is_signed_again_with_the_time_of_the_attempt(
        tmp_path: Path, receiver: VerifyingReceiver, clock: Clock) -> None:
    receiver.answers = [503]
    sink, outbox = _sink(tmp_path / "spool", receiver.url, KEY, clock)
    outbox.publish({"type": "alert", "classroom": "room-101"})
    task = asyncio.create_task(sink.run())
    await until(lambda: not receiver.answers, "the first attempt answered 503")
    clock.now += 900  # the receiver was down for a quarter of an hour
    await _until(receiver, 1)
    header = receiver.requests[0][0]["Classroom-Signature"]
    assert header.startswith(f"t={int(clock.now)},")
    assert receiver.rejections == []
    assert await sink.drain(task, 5)


async def test_unsigned_when_no_key_is_set(tmp_path: Path, clock: Clock) -> None:
    seen: list[dict[str, Any]] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        seen.append({"headers": dict(request.headers), "body": json.loads(await request.read())})
        return aiohttp.web.Response(status=204)

    app = aiohttp.web.Application()
    app.router.add_post("/hook", hook)
    runner = aiohttp.web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await aiohttp.web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        spool = Spool(tmp_path / "spool", max_bytes=1 << 22, segment_bytes=4096)
        sink = WebhookSink(spool, token=None, envelope=ENVELOPE, flush_seconds=0.01)
        sink.set_url(f"http://127.0.0.1:{port}/hook")
        Outbox(EventHub(), sink).publish({"type": "alert", "classroom": "room-101"})
        task = asyncio.create_task(sink.run())
        await until(lambda: bool(seen), "a delivery")
        assert "Classroom-Signature" not in seen[0]["headers"]
        assert await sink.drain(task, 5)
    finally:
        await runner.cleanup()


def test_a_short_signing_key_stops_the_pod_naming_the_variable(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("CLASSROOM_ID_SECRET", "k" * 32)
    monkeypatch.setenv("CLASSROOM_SINK_SIGNING_KEY", "short")
    code = main(["serve", "--engine-dir", str(tmp_path), "--assignment",
                 str(tmp_path / "a.json"), "--spool-dir", str(tmp_path / "spool")])
    assert code == 2
    err = capsys.readouterr().err
    assert "CLASSROOM_SINK_SIGNING_KEY has 5 characters" in err
    assert "short" not in err  # the key itself is never printed

from __future__ import annotations

import asyncio
import json
import re
from typing import Any


async def _until(check: Any, what: str) -> None:
    for _ in range(300):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


async def test_liveness_readiness_and_status_through_the_lifecycle(
    harness: Any, streams: Any, synthetic_url: Any
) -> None:
    harness.write(streams({"s0": synthetic_url("a"), "s1": "rtsp://127.0.0.1:1/none"}))
    client = await harness.open()
    assert (await client.get("/healthz")).status == 200
    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["error"] == "NotReady"
    await harness.pod.start()
    assert (await client.get("/readyz")).status == 200

    async def one_healthy() -> bool:
        doc = await (await client.get("/v1/status")).json()
        fps = {s["id"]: s["fps"] for s in doc["classrooms"][0]["streams"]}
        return bool(doc["streams"] == {"assigned": 2, "healthy": 1} and fps["s0"] > 10)

    await _until(one_healthy, "s0 healthy, s1 failing")
    doc = await (await client.get("/v1/status")).json()
    assert doc["ready"] is True and doc["fingerprint"] == "00000000000000aa"
    assert doc["backend"] == "onnxruntime-cpu"
    room = doc["classrooms"][0]
    assert room["name"] == "room-101"
    by_id = {s["id"]: s for s in room["streams"]}
    assert by_id["s0"]["state"] == "Healthy" and by_id["s0"]["fps"] > 10
    assert by_id["s1"]["state"] in ("Failed", "Connecting")
    assert "127.0.0.1:1" not in json.dumps(doc)  # errors name the stream, not its URL
    await harness.pod.drain()
    assert (await client.get("/readyz")).status == 503


async def test_metrics_are_labelled_by_model_fingerprint_and_classroom(
    harness: Any, streams: Any, synthetic_url: Any
) -> None:
    harness.write(streams({"s0": synthetic_url("a")}))
    client = await harness.open()
    await harness.pod.start()

    async def labelled() -> bool:
        text = await (await client.get("/metrics")).text()
        crops = re.search(r'classroom_crops_total\{classroom="room-101",'
                          r'fingerprint="00000000000000aa",model="attention",'
                          r'namespace="school"\} (\S+)', text)
        labels = re.search(r'classroom_stage_seconds_count\{fingerprint="00000000000000aa",'
                           r'model="attention",namespace="school",stage="label"\} (\S+)', text)
        return bool(crops and float(crops[1]) > 0 and labels and float(labels[1]) > 0)

    await _until(labelled, "crops counted and labels timed")
    text = await (await client.get("/metrics")).text()
    for stage in ("crop", "queue", "infer", "analyse", "label"):
        assert (
            f'classroom_stage_seconds_count{{fingerprint="00000000000000aa",'
            f'model="attention",namespace="school",stage="{stage}"}}' in text
        )
    assert "classroom_batch_size_bucket" in text
    assert (
        'classroom_streams{fingerprint="00000000000000aa",model="attention",'
        'namespace="school",state="Healthy"} 1.0' in text
    )
    assert "student" not in text and "s0" not in text  # no per-stream or per-student series


async def test_a_bad_assignment_is_reported_and_the_previous_keeps_running(
    harness: Any, streams: Any, synthetic_url: Any
) -> None:
    harness.write(streams({"s0": synthetic_url("a")}))
    client = await harness.open()
    await harness.pod.start()
    bad = streams({"s0": synthetic_url("a")})
    bad["pods"]["web-0"][0]["streams"][0]["layout"] = "fisheye"
    harness.write(bad)

    async def refused() -> bool:
        doc = await (await client.get("/v1/status")).json()
        return doc["assignment"]["error"] is not None

    await _until(refused, "the bad file refused")
    doc = await (await client.get("/v1/status")).json()
    assert "layout must be one of per-student, room" in doc["assignment"]["error"]
    assert doc["ready"] is True and doc["streams"]["assigned"] == 1
    harness.write(streams({"s0": synthetic_url("a"), "s2": synthetic_url("b")}))

    async def two() -> bool:
        doc = await (await client.get("/v1/status")).json()
        return bool(doc["streams"]["assigned"] == 2 and doc["assignment"]["error"] is None)

    await _until(two, "the fixed file applied")


async def test_live_events_filter_and_errors(
    harness: Any, streams: Any, synthetic_url: Any
) -> None:
    harness.write(streams({"s0": synthetic_url("a", "220:1,20:3")}, distractedAfterSeconds=1))
    client = await harness.open()
    await harness.pod.start()
    response = await client.get("/v1/events?types=nope,alert")
    assert response.status == 400
    assert "types has unknown event types ['nope']" in (await response.json())["message"]
    response = await client.get("/v1/events?classroom=room-999")
    assert response.status == 404
    assert "room-101" in (await response.json())["message"]
    response = await client.get("/v1/events?classroom=room-101&types=alert")
    assert response.headers["Content-Type"] == "text/event-stream"
    kinds: list[str] = []
    async with asyncio.timeout(20):
        async for line in response.content:
            if line.startswith(b"event: "):
                kinds.append(line[7:].strip().decode())
            if line.startswith(b"data: "):
                event = json.loads(line[6:])
                assert event["type"] == "alert" and event["student"].startswith("stu_")
                break
    assert kinds == ["alert"]
    response.close()


async def test_status_tells_how_far_behind_the_webhook_is(
    harness: Any, streams: Any, synthetic_url: Any
) -> None:
    from localcluster.processes import free_port

    doc = streams({"s0": synthetic_url("a")})
    doc["sink"] = {"webhook": {"url": f"http://127.0.0.1:{free_port()}/hook"}}  # nobody there
    harness.write(doc)
    client = await harness.open()
    await harness.pod.start()

    async def behind() -> bool:
        sink = (await (await client.get("/v1/status")).json())["sink"]
        return bool(sink["failures"] >= 1 and (sink["oldestUndeliveredSeconds"] or 0) >= 0.5)

    await _until(behind, "undelivered events waiting half a second")
    sink = (await (await client.get("/v1/status")).json())["sink"]
    assert sink["configured"] is True and sink["lastDeliveredAt"] is None
    assert sink["lastError"] and sink["spool"]["bytes"] > 0

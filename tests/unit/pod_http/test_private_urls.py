"""A stream's URL, and the password in it, never leave the pod: errors name the stream id."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

PASSWORD = "s3cr3t-pw"
URLS = {
    "refused": f"rtsp://viewer:{PASSWORD}@127.0.0.1:1/cam",
    "http-refused": f"http://viewer:{PASSWORD}@127.0.0.1:1/mjpeg",
    "bad-port": f"rtsp://viewer:{PASSWORD}@cam.school.lan:99999/cam",
    "file-with-host": f"file://viewer:{PASSWORD}@camhost/recording.mp4",
}


async def test_errors_name_the_stream_not_its_url(
    harness: Any, streams: Any, caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    harness.write(streams(URLS))
    client = await harness.open()
    await harness.pod.start()

    async def all_failed() -> dict[str, Any] | None:
        doc = await (await client.get("/v1/status")).json()
        shown = {s["id"]: s for s in doc["classrooms"][0]["streams"]}
        return shown if all(s["lastError"] for s in shown.values()) else None

    for _ in range(300):
        shown = await all_failed()
        if shown:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("not every stream failed")
    for sid, stream in shown.items():
        assert f"stream {sid}" in stream["lastError"], stream["lastError"]
    status = await (await client.get("/v1/status")).text()
    metrics = await (await client.get("/metrics")).text()
    await harness.pod.drain()
    out, err = capfd.readouterr()  # FFmpeg's own messages go straight to the process's stderr
    for where, text in (("status", status), ("metrics", metrics), ("log", caplog.text),
                        ("stderr", out + err)):
        assert PASSWORD not in text, f"the password is in the {where}"
        assert "viewer" not in text, f"the user name is in the {where}"
        for url in URLS.values():
            assert url not in text and url.split("@")[1] not in text, f"a URL is in the {where}"
    assert "failed" in caplog.text  # the failures were logged, by stream id

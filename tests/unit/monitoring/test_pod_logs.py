"""The pod logs JSON lines with the operator's keys, and its access log leaves out the probes
and scrapes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from classroom_inference.serving.logs import ACCESS_LOGGER, JsonFormatter, access_log, configure


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """Everything the process logs, through the pod's own configuration."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    root.handlers[:] = []  # as in a fresh process (pytest's capture handlers are back after)
    configure("info")
    configure("info")  # a second call adds no second handler
    (handler,) = root.handlers
    assert isinstance(handler, logging.StreamHandler)
    assert isinstance(handler.formatter, JsonFormatter)
    stream = io.StringIO()
    handler.setStream(stream)
    yield stream
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


def _lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_a_record_is_one_json_line_with_the_operators_keys(captured: io.StringIO) -> None:
    logging.getLogger("classroom_inference.serve").warning(
        "stream %s reconnecting", "room-101-0", extra={"stream": "room-101-0"})
    (line,) = _lines(captured)
    assert line["message"] == "stream room-101-0 reconnecting"
    assert line["severity"] == "warn"
    assert line["logger"] == "classroom_inference.serve"
    assert line["stream"] == "room-101-0"
    assert line["timestamp"].endswith("+00:00")


def test_an_exception_is_kept_in_the_line(captured: io.StringIO) -> None:
    try:
        raise ValueError("bad frame")
    except ValueError:
        logging.getLogger("classroom_inference.serve").exception("decoder failed")
    (line,) = _lines(captured)
    assert line["severity"] == "error"
    assert "ValueError: bad frame" in line["exception"]


async def test_access_lines_leave_out_probes_and_scrapes(captured: io.StringIO) -> None:
    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    for path in ("/healthz", "/readyz", "/metrics", "/v1/status"):
        app.router.add_get(path, ok)
    runner = web.AppRunner(app, **access_log())  # as `classroom-inference serve` runs it
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with aiohttp.ClientSession() as session:
            for path in ("/healthz", "/readyz", "/metrics", "/v1/status", "/missing"):
                async with session.get(f"http://127.0.0.1:{port}{path}") as reply:
                    await reply.read()
    finally:
        await runner.cleanup()
    access = [line for line in _lines(captured) if line["logger"] == ACCESS_LOGGER]
    assert [(a["path"], a["status"]) for a in access] == [("/v1/status", 200), ("/missing", 404)]
    assert access[0]["method"] == "GET" and access[0]["severity"] == "info"
    assert access[0]["durationSeconds"] >= 0


def test_the_formatter_handles_a_record_without_extras() -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "plain %d", (1,), None)
    assert json.loads(JsonFormatter().format(record)) == {
        "timestamp": json.loads(JsonFormatter().format(record))["timestamp"],
        "severity": "debug", "logger": "x", "message": "plain 1"}

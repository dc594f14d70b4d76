"""The operator's logs: a throttled (429) API request is retried after its Retry-After and told
at info, not as a failed handler; a reconcile's decisions carry the ClassroomModel they concern."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from classroom_operator.kube import THROTTLE_RETRIES, Credentials, Kube, throttle_delay
from classroom_operator.metrics import Metrics
from classroom_operator.reconcile.model import _log_decisions
from kopf._core.actions.loggers import ObjectJsonFormatter


class ApiServer:
    """Answers 429 (Retry-After: 0.1) a given number of times, then 200."""

    def __init__(self, throttled: int) -> None:
        self.throttled = throttled
        self.calls = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.calls += 1
        if self.calls <= self.throttled:
            return web.json_response({"reason": "TooManyRequests"}, status=429,
                                     headers={"Retry-After": "0.1"})
        return web.json_response({"metadata": {"name": "x"}})


async def _kube(server: ApiServer) -> tuple[Kube, TestServer, Metrics]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    test_server = TestServer(app)
    await test_server.start_server()
    metrics = Metrics()
    kube = Kube(Credentials(server=str(test_server.make_url("")).rstrip("/"),
                            ssl_context=False, authorization=lambda: None), metrics)
    return kube, test_server, metrics


async def test_a_throttled_request_is_retried_and_logged_at_info(
        caplog: pytest.LogCaptureFixture) -> None:
    server = ApiServer(throttled=2)
    kube, test_server, metrics = await _kube(server)
    try:
        with caplog.at_level(logging.DEBUG, logger="classroom_operator"):
            assert await kube.get("/api/v1/namespaces/school/configmaps/x") == {
                "metadata": {"name": "x"}}
    finally:
        await kube.close()
        await test_server.close()
    assert server.calls == 3
    throttled = [r for r in caplog.records
                 if r.name == "classroom_operator.kube" and "429" in r.getMessage()]
    assert len(throttled) == 2
    assert all(r.levelno == logging.INFO for r in throttled)
    assert metrics.registry.get_sample_value("classroom_operator_api_requests_total", {
        "verb": "GET", "resource": "configmaps", "code": "429"}) == 2


async def test_throttling_that_does_not_end_is_a_temporary_error() -> None:
    import kopf

    server = ApiServer(throttled=100)
    kube, test_server, _ = await _kube(server)
    try:
        with pytest.raises(kopf.TemporaryError, match="429"):
            await kube.get("/api/v1/namespaces/school/configmaps/x")
    finally:
        await kube.close()
        await test_server.close()
    assert server.calls == THROTTLE_RETRIES + 1


def test_retry_after_is_bounded() -> None:
    assert throttle_delay("3") == 3
    assert throttle_delay(None) == 1
    assert throttle_delay("soon") == 1
    assert throttle_delay("3600") == 10


class _Plan:
    def __init__(self, jobs: int, released: int) -> None:
        self.jobs = [object()] * jobs
        self.released = ("f",) * released


def _json_lines(records: list[logging.LogRecord]) -> list[dict[str, Any]]:
    formatter = ObjectJsonFormatter(refkey="object")
    return [json.loads(formatter.format(record)) for record in records]


def test_a_decision_is_logged_with_its_model(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="classroom_operator"):
        _log_decisions(("school", "attention"), "uid-1", _Plan(1, 0),  # type: ignore[arg-type]
                       {"engines": []})
        _log_decisions(("school", "quiet"), "uid-2", _Plan(0, 0), {})  # type: ignore[arg-type]
    (line,) = _json_lines(caplog.records)
    assert line["object"]["namespace"] == "school"
    assert line["object"]["name"] == "attention"
    assert line["object"]["kind"] == "ClassroomModel"
    assert "1 build Jobs to start" in line["message"]
    assert line["severity"] == "info"

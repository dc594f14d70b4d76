"""Reading a pod's GET /v1/status over real HTTP: the document, or why there is none."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from classroom_operator.pod_client import fetch_report, fetch_reports
from classroom_operator.rollout.pod_reports import PodReport, ReportInvalid, parse_report
from unit.pod_status.conftest import document, free_port, never_answers

Start = Callable[..., Awaitable[TestServer]]


def test_the_contract_document_parses() -> None:
    report = parse_report(document())
    assert report.ready is True
    assert report.fingerprint == "0123456789abcdef"
    assert report.classrooms == frozenset({"room-101", "room-102"})
    states = {stream.id: (stream.classroom, stream.state) for stream in report.streams}
    assert states == {"room-101-0": ("room-101", "Healthy"), "room-101-1": ("room-101", "Failed"),
                      "room-102-0": ("room-102", "Healthy")}
    assert report.assignment_error is None


def test_a_refused_assignment_is_carried() -> None:
    report = parse_report(document(assignment={"error": "pods['x'][0].streams[0].url missing"}))
    assert report.assignment_error == "pods['x'][0].streams[0].url missing"


@pytest.mark.parametrize(("bad", "says"), [
    ([], "not a JSON object"),
    (document(classrooms=None), "classrooms"),
    (document(classrooms=[{"name": "room-1"}]), "name and a list of streams"),
    (document(classrooms=[{"name": "room-1", "streams": [{"state": "Healthy"}]}]),
     "a stream of room-1 has no id"),
])
def test_a_document_off_the_contract_is_refused(bad: object, says: str) -> None:
    with pytest.raises(ReportInvalid, match=says):
        parse_report(bad)


async def test_fetch_by_pod_ip(pod_server: Start, session: aiohttp.ClientSession) -> None:
    async def status(_: web.Request) -> web.StreamResponse:
        return web.json_response(document())

    server = await pod_server(status)
    report = await fetch_report(session, "127.0.0.1", server.port or 0)
    assert isinstance(report, PodReport)
    assert report.classrooms == frozenset({"room-101", "room-102"})


async def test_an_error_status_is_a_reason(pod_server: Start,
                                           session: aiohttp.ClientSession) -> None:
    async def failing(_: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="draining")

    server = await pod_server(failing)
    assert await fetch_report(session, "127.0.0.1", server.port or 0) == \
        "GET /v1/status answered HTTP 503"


async def test_not_json_is_a_reason(pod_server: Start, session: aiohttp.ClientSession) -> None:
    async def garbage(_: web.Request) -> web.StreamResponse:
        return web.Response(text="<html>proxy error</html>")

    server = await pod_server(garbage)
    reason = await fetch_report(session, "127.0.0.1", server.port or 0)
    assert isinstance(reason, str) and reason.startswith("GET /v1/status failed")


async def test_off_contract_json_is_a_reason(pod_server: Start,
                                             session: aiohttp.ClientSession) -> None:
    async def other(_: web.Request) -> web.StreamResponse:
        return web.json_response({"status": "ok"})

    server = await pod_server(other)
    assert await fetch_report(session, "127.0.0.1", server.port or 0) == \
        "GET /v1/status: classrooms is missing or not a list"


async def test_a_hung_pod_times_out(pod_server: Start, session: aiohttp.ClientSession) -> None:
    server = await pod_server(never_answers)
    assert await fetch_report(session, "127.0.0.1", server.port or 0, timeout_seconds=0.2) == \
        "GET /v1/status timed out after 0.2s"


async def test_nothing_listening_is_a_reason(session: aiohttp.ClientSession) -> None:
    reason = await fetch_report(session, "127.0.0.1", free_port())
    assert isinstance(reason, str) and reason.startswith("GET /v1/status failed")


async def test_many_pods_at_once_each_with_its_own_answer(
        pod_server: Start, session: aiohttp.ClientSession) -> None:
    async def status(_: web.Request) -> web.StreamResponse:
        return web.json_response(document())

    # Pods listen on one port, each on its own IP, as the node agent's 127.x pod IPs do.
    port = free_port()
    await pod_server(status, "127.0.0.11", port)
    await pod_server(never_answers, "127.0.0.12", port)
    reports = await fetch_reports(
        session, {"pool-0": "127.0.0.11", "pool-1": "127.0.0.12", "pool-2": "127.0.0.13"},
        port, concurrency=2, timeout_seconds=0.3)
    assert isinstance(reports["pool-0"], PodReport)
    assert reports["pool-1"] == "GET /v1/status timed out after 0.3s"
    assert isinstance(reports["pool-2"], str) and "failed" in reports["pool-2"]

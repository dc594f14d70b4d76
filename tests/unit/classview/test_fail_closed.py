"""When the API server cannot answer an access question, the view refuses (503) instead of
guessing, and says why; a person without a session is asked to sign in."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from classroom_operator.classview.access import Access
from classroom_operator.classview.api import ViewApi
from classroom_operator.classview.directory import Directory
from classroom_operator.classview.rooms import RoomRef
from classroom_operator.classview.server import create_app
from classroom_operator.kube import Credentials


@pytest.fixture
async def broken_api() -> AsyncIterator[str]:
    """An API server that fails every review, as one overloaded or restarting does."""

    async def failing(request: web.Request) -> web.Response:
        return web.json_response({"message": "etcdserver: request timed out"}, status=500)

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", failing)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
async def view(broken_api: str) -> AsyncIterator[TestClient[Any, Any]]:
    api = ViewApi(Credentials(server=broken_api, ssl_context=False,
                              authorization=lambda: "Bearer view"))
    directory = Directory(api, window_seconds=60)
    directory.rooms = {"school/room-101": RoomRef("school", "room-101", "attention", False)}
    client = TestClient(TestServer(create_app(directory, Access(api))))
    await client.start_server()
    yield client
    await client.close()
    await api.close()


async def test_an_unanswered_review_refuses_the_room(view: TestClient[Any, Any]) -> None:
    response = await view.get("/api/rooms/school/room-101",
                              headers={"Authorization": "Bearer some-token"})
    assert response.status == 503
    body = await response.json()
    assert body["error"] == "AccessUnknown" and "HTTP 500" in body["message"]
    assert "students" not in body


async def test_an_unanswered_sign_in_is_refused(view: TestClient[Any, Any]) -> None:
    response = await view.post("/session", data={"token": "some-token"},
                               allow_redirects=False)
    assert response.status == 503
    assert "Set-Cookie" not in response.headers


async def test_no_session_is_asked_to_sign_in(view: TestClient[Any, Any]) -> None:
    assert (await view.get("/api/rooms")).status == 401
    assert (await view.get("/api/rooms/school/room-101")).status == 401
    response = await view.get("/rooms/school/room-101", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/"
    page = await (await view.get("/")).text()
    assert 'name="token"' in page

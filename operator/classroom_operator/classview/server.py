"""The class view's HTTP face (aiohttp, built by `create_app()`).

GET  /                                 the page (sign-in form, the rooms, one room live)
GET  /rooms/{namespace}/{room}         the page for one room; 403 page when not allowed
POST /session                          sign in: form field `token` -> HttpOnly session cookie
POST /session/end                      sign out
GET  /api/whoami                       who the session is
GET  /api/rooms                        the rooms the person may see
GET  /api/rooms/{namespace}/{room}     one room's picture as JSON
GET  /api/rooms/{namespace}/{room}/live  the same, pushed each second as Server-Sent Events;
                                       the stream ends with `event: refused` when access goes
GET  /healthz

The person's token stays on the server: the browser holds only a random session id in a cookie
(HttpOnly, SameSite=Strict, Secure behind https). Scripts may send `Authorization: Bearer
<token>` to the /api paths instead.
"""

from __future__ import annotations

import asyncio
import html
import json
import secrets
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any

from aiohttp import web

from classroom_operator.classview.access import Access, ApiUnavailable
from classroom_operator.classview.directory import Directory
from classroom_operator.classview.rooms import RoomRef

COOKIE = "classview_session"
SESSION_SECONDS = 8 * 3600.0
PUSH_SECONDS = 1.0
MAX_TOKEN_CHARS = 16384


@dataclass
class Session:
    token: str
    username: str
    started: float


@dataclass
class View:
    directory: Directory
    access: Access
    sessions: dict[str, Session]


VIEW: web.AppKey[View] = web.AppKey("view", View)


def _page() -> str:
    return (resources.files("classroom_operator.classview") / "static" / "index.html").read_text()


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html",
                        headers={"Content-Security-Policy": "default-src 'self'; "
                                 "script-src 'self' 'unsafe-inline'; style-src 'unsafe-inline'",
                                 "Cache-Control": "no-store"})


def _json(doc: Any, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(doc, allow_nan=False), status=status,
                        content_type="application/json", headers={"Cache-Control": "no-store"})


def _refusal_page(status: int, title: str, text: str) -> web.Response:
    return _html(f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                 f"</head><body><h1 id='refused'>{status} {html.escape(title)}</h1>"
                 f"<p>{html.escape(text)}</p><p><a href='/'>Back to the class view</a></p>"
                 "</body></html>", status)


def _token(request: web.Request) -> str | None:
    view = request.app[VIEW]
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer ") and request.path.startswith("/api/"):
        return header[7:].strip() or None
    session = view.sessions.get(request.cookies.get(COOKIE, ""))
    if session is None or time.time() - session.started > SESSION_SECONDS:
        return None
    return session.token


async def _allowed(request: web.Request) -> tuple[str | None, RoomRef | None, bool]:
    """(token, room, allowed) for the room named in the path."""
    view = request.app[VIEW]
    token = _token(request)
    key = f"{request.match_info['namespace']}/{request.match_info['room']}"
    room = view.directory.rooms.get(key)
    if token is None:
        return None, room, False
    probe = room or RoomRef(request.match_info["namespace"], request.match_info["room"],
                            "", inline=False)
    return token, room, await view.access.may_see(token, probe)


async def index(request: web.Request) -> web.Response:
    return _html(_page())


async def room_page(request: web.Request) -> web.StreamResponse:
    token, room, allowed = await _allowed(request)
    if token is None:
        raise web.HTTPSeeOther("/")
    if not allowed:
        return _refusal_page(403, "Forbidden", "You may not see this classroom. Ask your school "
                             "administrator for access (a Role with get on this classroom).")
    if room is None:
        return _refusal_page(404, "Not found", "No classroom of that name is served.")
    return _html(_page())


async def sign_in(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    token = str(form.get("token") or "").strip()
    if not token or len(token) > MAX_TOKEN_CHARS:
        return _refusal_page(400, "Sign-in failed", "Paste your Kubernetes token into the "
                             "token field (kubectl create token <service account>).")
    person = await request.app[VIEW].access.person(token)
    if person is None:
        return _refusal_page(401, "Sign-in failed", "The cluster does not accept this token: "
                             "it may have expired. Ask for a new one.")
    view = request.app[VIEW]
    # Forget what expired, here where new state is added, so memory follows the people signed in.
    for stale in [k for k, s in view.sessions.items()
                  if time.time() - s.started > SESSION_SECONDS]:
        del view.sessions[stale]
    view.access.forget_expired()
    session_id = secrets.token_urlsafe(32)
    view.sessions[session_id] = Session(token, person.username, time.time())
    response = web.HTTPSeeOther("/")
    response.set_cookie(COOKIE, session_id, httponly=True, samesite="Strict", path="/",
                        secure=request.secure or
                        request.headers.get("X-Forwarded-Proto") == "https",
                        max_age=int(SESSION_SECONDS))
    raise response


async def sign_out(request: web.Request) -> web.StreamResponse:
    request.app[VIEW].sessions.pop(request.cookies.get(COOKIE, ""), None)
    response = web.HTTPSeeOther("/")
    response.del_cookie(COOKIE, path="/")
    raise response


async def whoami(request: web.Request) -> web.Response:
    token = _token(request)
    person = await request.app[VIEW].access.person(token) if token else None
    if person is None:
        return _json({"error": "Unauthorized", "message": "sign in with a Kubernetes token"}, 401)
    return _json({"username": person.username})


async def room_list(request: web.Request) -> web.Response:
    view = request.app[VIEW]
    token = _token(request)
    if token is None or await view.access.person(token) is None:
        return _json({"error": "Unauthorized", "message": "sign in with a Kubernetes token"}, 401)
    rooms = [room for _, room in sorted(view.directory.rooms.items())
             if await view.access.may_see(token, room)]
    return _json({"rooms": [{"namespace": r.namespace, "name": r.name, "model": r.model,
                             "pods": [p.name for p in view.directory.pods.get(r.key, [])]}
                            for r in rooms]})


def _snapshot(view: View, room: RoomRef) -> dict[str, Any]:
    timeline, feeds = view.directory.timeline(room.key)
    picture = timeline.snapshot(time.time())
    picture.update(
        namespace=room.namespace, name=room.name, model=room.model,
        feeds=[{"pod": f.pod.name, "connected": f.state.connected, "connects": f.state.connects,
                "resumes": f.state.resumes, "incompleteResumes": f.state.incomplete_resumes,
                "lastEventId": f.state.last_id, "error": f.state.error} for f in feeds])
    return picture


async def _room_or_refusal(request: web.Request) -> RoomRef | web.Response:
    token, room, allowed = await _allowed(request)
    if token is None:
        return _json({"error": "Unauthorized", "message": "sign in with a Kubernetes token"}, 401)
    if not allowed:
        return _json({"error": "Forbidden", "message": "you may not see this classroom"}, 403)
    if room is None:
        return _json({"error": "NotFound", "message": "no classroom of that name is served"},
                     404)
    return room


async def room_json(request: web.Request) -> web.Response:
    room = await _room_or_refusal(request)
    if isinstance(room, web.Response):
        return room
    return _json(_snapshot(request.app[VIEW], room))


async def room_live(request: web.Request) -> web.StreamResponse:
    room = await _room_or_refusal(request)
    if isinstance(room, web.Response):
        return room
    view = request.app[VIEW]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    try:
        while True:
            token, _, allowed = await _allowed(request)
            if token is None or not allowed:
                await response.write(b'event: refused\ndata: {"reason":"access withdrawn"}\n\n')
                break
            data = json.dumps(_snapshot(view, room), allow_nan=False)
            await response.write(f"event: snapshot\ndata: {data}\n\n".encode())
            await asyncio.sleep(PUSH_SECONDS)
    except (ConnectionResetError, ApiUnavailable):
        pass
    return response


@web.middleware
async def api_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ApiUnavailable as error:
        # Fail closed: without the API server's answer nobody sees anything.
        return _json({"error": "AccessUnknown",
                      "message": f"cannot check access right now: {error}"}, 503)


async def healthz(request: web.Request) -> web.Response:
    error = request.app[VIEW].directory.error
    return _json({"ok": error is None, "error": error}, 200 if error is None else 503)


def create_app(directory: Directory, access: Access) -> web.Application:
    app = web.Application(middlewares=[api_errors], client_max_size=64 * 1024)
    app[VIEW] = View(directory, access, {})
    app.router.add_get("/", index)
    app.router.add_get("/rooms/{namespace}/{room}", room_page)
    app.router.add_post("/session", sign_in)
    app.router.add_post("/session/end", sign_out)
    app.router.add_get("/api/whoami", whoami)
    app.router.add_get("/api/rooms", room_list)
    app.router.add_get("/api/rooms/{namespace}/{room}", room_json)
    app.router.add_get("/api/rooms/{namespace}/{room}/live", room_live)
    app.router.add_get("/healthz", healthz)
    return app

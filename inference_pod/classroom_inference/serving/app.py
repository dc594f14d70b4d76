"""The pod's HTTP face: a thin aiohttp adapter over the `Pod`, built by `create_app()`.

/healthz    liveness: the event loop answers and no task the pod needs has died
/readyz     readiness: engine loaded and warm, an assignment applied, not draining
/metrics    Prometheus
/v1/status  the status document (docs/contracts.md)
/v1/events  live events as Server-Sent Events; ?classroom=<name>&types=alert,gap-started;
            `Last-Event-ID: <seq>` replays what the pod still holds after that seq

With CLASSROOM_POD_API_TOKEN set, /v1/status and /v1/events answer only requests bearing it
(`Authorization: Bearer <token>`): student labels are not for anyone on the pod network. The
probes and /metrics stay open for the kubelet and Prometheus.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from classroom_inference.serving.errors import (
    InvalidRequest,
    NotReady,
    ServingError,
    UnknownClassroom,
)
from classroom_inference.serving.events import messages
from classroom_inference.serving.metrics import CONTENT_TYPE
from classroom_inference.serving.pipeline import Pod
from classroom_inference.serving.status import status_document

POD: web.AppKey[Pod] = web.AppKey("pod", Pod)
EVENT_TYPES = frozenset({"series", "alert", "alert-cleared", "gap-started", "gap-ended",
                         "student-summary", "class-summary"})

# The one place domain errors become HTTP statuses.
STATUS_OF: dict[type[ServingError], int] = {
    InvalidRequest: 400,
    UnknownClassroom: 404,
    NotReady: 503,
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
PROTECTED_PATHS = frozenset({"/v1/status", "/v1/events"})


@web.middleware
async def domain_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ServingError as exc:
        status = next((code for cls, code in STATUS_OF.items() if isinstance(exc, cls)), 500)
        return _json({"error": type(exc).__name__, "message": str(exc)}, status)


def bearer_token(token: str | None) -> Callable[..., Awaitable[web.StreamResponse]]:
    """Refuses the protected paths without `Authorization: Bearer <token>` (when a token is set)."""
    expected = f"Bearer {token}".encode() if token else None

    @web.middleware
    async def check(request: web.Request, handler: Handler) -> web.StreamResponse:
        if expected is not None and request.path in PROTECTED_PATHS:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, expected):
                response = _json({"error": "Unauthorized", "message":
                                  f"{request.path} needs the pod's API token "
                                  "(Authorization: Bearer <token>)"}, 401)
                response.headers["WWW-Authenticate"] = 'Bearer realm="classroom-inference"'
                return response
        return await handler(request)

    return check


def _last_event_id(request: web.Request) -> int | None:
    text = request.headers.get("Last-Event-ID", "").strip()
    if not text:
        return None
    if not text.isdigit():
        raise InvalidRequest(f"Last-Event-ID {text[:40]!r} is not an event's seq; give the id "
                             "of the last event received, or none to start live")
    return int(text)


def _json(doc: dict[str, Any], status: int = 200) -> web.Response:
    # Strict JSON: a NaN or infinity is a bug to fix where the number is made, not a token
    # to hand to clients whose parsers reject it.
    return web.Response(text=json.dumps(doc, allow_nan=False), status=status,
                        content_type="application/json")


async def healthz(request: web.Request) -> web.Response:
    pod = request.app[POD]
    if not pod.alive:
        return _json({"alive": False, "reason": pod.failure}, 500)
    return _json({"alive": True, "phase": pod.phase})


async def readyz(request: web.Request) -> web.Response:
    ready, reason = request.app[POD].ready
    if not ready:
        raise NotReady(reason)
    return _json({"ready": True})


async def metrics(request: web.Request) -> web.Response:
    body = request.app[POD].metrics.render()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE})


async def status(request: web.Request) -> web.Response:
    return _json(status_document(request.app[POD]))


async def events(request: web.Request) -> web.StreamResponse:
    pod = request.app[POD]
    if pod.phase in ("Draining", "Stopped"):
        raise NotReady("the pod is draining; follow another pod")
    classroom = request.query.get("classroom") or None
    assigned = {s.assignment.classroom for s in pod.streams.values()}
    if classroom is not None and classroom not in assigned:
        raise UnknownClassroom(
            f"classroom {classroom!r} is not served by this pod; it serves "
            f"{', '.join(sorted(assigned)) or 'none yet'}")
    types: frozenset[str] | None = None
    if request.query.get("types"):
        types = frozenset(t.strip() for t in request.query["types"].split(",") if t.strip())
        unknown = types - EVENT_TYPES
        if unknown:
            raise InvalidRequest(
                f"types has unknown event types {sorted(unknown)}; "
                f"use a comma-separated list of {', '.join(sorted(EVENT_TYPES))}")
    subscriber = pod.hub.subscribe(classroom, types, after=_last_event_id(request))
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
    try:
        await response.prepare(request)
        async for chunk in messages(subscriber):
            await response.write(chunk)
    except ConnectionResetError:
        pass  # the subscriber went away; nothing is owed to it
    finally:
        pod.hub.unsubscribe(subscriber)
    return response


def create_app(pod: Pod) -> web.Application:
    app = web.Application(middlewares=[bearer_token(pod.settings.api_token), domain_errors])
    app[POD] = pod
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/status", status)
    app.router.add_get("/v1/events", events)
    return app

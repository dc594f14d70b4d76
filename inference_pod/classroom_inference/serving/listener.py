"""The pod's listening socket: how long a client may take to send a request, and how many
connections the pod holds at once.

A client that connects and then sends its request a byte at a time (or never finishes it) must
not hold a connection for ever: aiohttp closes a connection that has no complete request
`keepalive_timeout` after it was opened or after its last response, and that is the limit used
here for the request line and headers. The pod serves only GETs, so there is no body to wait for.
Beyond `max_connections` a new connection is answered 503 and closed before anything is read, so
a flood of them costs the pod a few bytes each, not a request handler; the cap is far above what
probes, Prometheus, the operator and live subscribers need together.

A request too malformed to reach a handler (bad request line, header, method, length) is answered
400 by aiohttp, which logs each with a traceback at ERROR: here it is one line at DEBUG, as a
client's mistake, not the pod's. A handler's own failure keeps its traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

REQUEST_HEADER_SECONDS = 10.0
MAX_CONNECTIONS = 1024
_BUSY = (b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n"
         b"Content-Length: 37\r\n\r\ntoo many connections to the pod; retry")


class ServerLog(logging.Logger):
    """The logger aiohttp's request handlers log to (`logger=`), a child of this module's."""

    def __init__(self) -> None:
        super().__init__(f"{__name__}.requests")
        self.parent = logging.getLogger(__name__)

    def handle(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError) and 400 <= error.code < 500:
            if not self.isEnabledFor(logging.DEBUG):
                return
            # The reason's first line only: the lines after it echo the client's bytes.
            reason = (error.message or "").strip().splitlines()[:1] or [type(error).__name__]
            record = self.makeRecord(
                self.name, logging.DEBUG, record.pathname, record.lineno,
                "%s: answered %d, %s", (record.getMessage(), error.code,
                                        reason[0].rstrip(":")[:160]), None)
        super().handle(record)


class _Busy(asyncio.Protocol):
    """A connection over the cap: told so and closed."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        transport.write(_BUSY)
        transport.close()


class GuardedSite(web.TCPSite):
    """A TCPSite that holds at most `max_connections` connections."""

    def __init__(self, runner: web.BaseRunner, host: str | None, port: int, *,
                 max_connections: int = MAX_CONNECTIONS, **kwargs: Any) -> None:
        super().__init__(runner, host, port, **kwargs)
        self.max_connections = max_connections

    async def start(self) -> None:
        await web.BaseSite.start(self)  # registers the site with its runner
        server = self._runner.server
        assert server is not None

        def protocol() -> asyncio.BaseProtocol:
            if len(server.connections) >= self.max_connections:
                return _Busy()
            return server()

        self._server = await asyncio.get_running_loop().create_server(
            protocol, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port)
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port


async def listen(app: web.Application, host: str | None, port: int, *,
                 header_seconds: float = REQUEST_HEADER_SECONDS,
                 max_connections: int = MAX_CONNECTIONS,
                 runner_options: Mapping[str, Any] | None = None,
                 ) -> tuple[web.AppRunner, GuardedSite]:
    """Serve `app` on host:port; the caller cleans up the runner. `runner_options` are more
    AppRunner arguments (the access log)."""
    options: dict[str, Any] = {"access_log": None, **(runner_options or {})}
    runner = web.AppRunner(app, handle_signals=False, keepalive_timeout=header_seconds,
                           logger=ServerLog(), **options)
    await runner.setup()
    site = GuardedSite(runner, host, port, max_connections=max_connections)
    await site.start()
    return runner, site

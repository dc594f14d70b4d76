"""`classroom-operator classview`: the class view's server, with its own credentials."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal

from aiohttp import web

from classroom_operator.classview.access import Access
from classroom_operator.classview.api import ViewApi
from classroom_operator.classview.directory import Directory
from classroom_operator.classview.server import create_app
from classroom_operator.kube import load_credentials

DEFAULT_PORT = 8090
log = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=os.environ.get("POD_IP") or "0.0.0.0",
                        help="address to bind (default $POD_IP, else every address)")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default 8090)")
    parser.add_argument("--access-cache-seconds", type=float, default=30.0,
                        help="how long an access decision is reused (default 30)")
    parser.add_argument("--window-seconds", type=float, default=300.0,
                        help="how much of each student's timeline is kept (default 300)")


async def serve(args: argparse.Namespace) -> int:
    api = ViewApi(load_credentials())
    directory = Directory(api, window_seconds=args.window_seconds)
    access = Access(api, cache_seconds=args.access_cache_seconds)
    runner = web.AppRunner(create_app(directory, access), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    log.info("class view on http://%s:%d/", args.host, args.port)
    refreshing = asyncio.create_task(directory.run())
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    refreshing.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await refreshing
    await directory.close()
    await runner.cleanup()
    return 0


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not 0 < args.port < 65536:
        print(f"classroom-operator classview: --port {args.port} is not a TCP port (1-65535)")
        return 2
    if not args.access_cache_seconds > 0:
        print("classroom-operator classview: --access-cache-seconds must be above 0")
        return 2
    return asyncio.run(serve(args))

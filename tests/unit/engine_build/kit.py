"""Helpers for the builder's tests: the reference model on disk, a spec for it, the `build`
command run in-process, a real local HTTP server, and the store's "nothing left behind" check."""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from classroom_inference.builder.cli import register
from classroom_inference.builder.fetch import sha256_file
from classroom_inference.builder.reference_model import reference_model, reference_spec

SIZE = 48
FINGERPRINT = "0123456789abcdef"


def write_reference_model(folder: Path, size: int = SIZE, channels: int = 3,
                          heads: tuple[str, ...] = ("attention", "emotion", "engagement"),
                          ) -> tuple[Path, dict[str, Any]]:
    """The reference model as a file, and the `model` part of a spec describing it."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"reference-{size}-{channels}-{'-'.join(heads)}.onnx"
    path.write_bytes(reference_model(size, channels, heads).SerializeToString())
    return path, reference_spec(path.as_uri(), sha256_file(path), size, channels, heads)


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def build_spec(model: dict[str, Any], **override: Any) -> dict[str, Any]:
    base = {"model": model,
            "engine": {"precision": "fp32", "batch": {"min": 1, "opt": 8, "max": 16}},
            "validation": {"samples": 24},
            "gpu": {"product": None, "computeCapability": None, "driverMajor": None}}
    return merge(base, override)


@dataclass
class BuildRun:
    code: int
    summary: dict[str, Any]
    termination_log: str
    stderr: str


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="classroom-inference")
    register(top.add_subparsers(dest="command", required=True))
    return top


def run_build(spec: dict[str, Any] | str, store: Path, tmp: Path, *,
              backend: str = "onnxruntime-cpu", fingerprint: str = FINGERPRINT,
              extra: tuple[str, ...] = ()) -> BuildRun:
    """`classroom-inference build` in-process, spec via --spec; the summary from both channels."""
    spec_file = tmp / "spec.json"
    spec_file.write_text(spec if isinstance(spec, str) else json.dumps(spec))
    log = tmp / "termination-log"
    args = parser().parse_args([
        "build", "--fingerprint", fingerprint, "--backend", backend, "--gpu-class", "cpu",
        "--store", str(store), "--termination-log", str(log), "--spec", str(spec_file),
        "--measure-seconds", "0.02", *extra])
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = args.run(args)
    lines = out.getvalue().strip().splitlines()
    summary = json.loads(lines[-1])
    return BuildRun(code, summary, log.read_text() if log.exists() else "", err.getvalue())


def assert_nothing_stored(store: Path, fingerprint: str = FINGERPRINT) -> None:
    assert not (store / fingerprint).exists(), "a failed build left an engine in the store"
    staging = store / ".tmp"
    left = sorted(p.name for p in staging.iterdir()) if staging.exists() else []
    assert left == [], f"staging folders left behind: {left}"


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, Callable[[BaseHTTPRequestHandler], None]] = {}
    hits: dict[str, int] = {}

    def do_GET(self) -> None:
        self.hits[self.path] = self.hits.get(self.path, 0) + 1
        route = self.routes.get(self.path)
        if route is None:
            self.send_error(404, "Not Found")
            return
        route(self)

    def log_message(self, *args: object) -> None:
        pass


class HttpServer:
    """A real HTTP server on 127.0.0.1 with routes set per test."""

    def __init__(self) -> None:
        # A subclass per server, so each test's routes and hit counts are its own.
        handler: type[_Handler] = type("Handler", (_Handler,), {"routes": {}, "hits": {}})
        self.handler = handler
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}"

    @property
    def hits(self) -> dict[str, int]:
        return self.handler.hits

    def file(self, path: str, data: bytes, *, failures: int = 0) -> None:
        """Serve `data`; the first `failures` requests get 503."""
        state = {"left": failures}

        def route(h: BaseHTTPRequestHandler) -> None:
            if state["left"] > 0:
                state["left"] -= 1
                h.send_error(503, "Service Unavailable")
                return
            h.send_response(200)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)

        self.handler.routes[path] = route

    def stall(self, path: str, seconds: float) -> None:
        """Accept, then say nothing for `seconds` (a server that hangs)."""
        def route(h: BaseHTTPRequestHandler) -> None:
            time.sleep(seconds)
            with contextlib.suppress(OSError):
                h.send_error(504, "too late")

        self.handler.routes[path] = route

    def redirect(self, path: str, location: str, code: int = 302) -> None:
        """Answer `code` with a Location header."""
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(code)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()

        self.handler.routes[path] = route

    def drip(self, path: str, size: int, interval: float) -> None:
        """Announce `size` bytes, then send one every `interval` seconds (a server that drips)."""
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.send_header("Content-Length", str(size))
            h.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(size):
                    h.wfile.write(b"\0")
                    h.wfile.flush()
                    time.sleep(interval)

        self.handler.routes[path] = route

    def endless(self, path: str) -> None:
        """Stream bytes with no Content-Length, forever (until the client hangs up)."""
        def route(h: BaseHTTPRequestHandler) -> None:
            h.send_response(200)
            h.end_headers()
            with contextlib.suppress(OSError):
                while True:
                    h.wfile.write(b"\0" * 65536)

        self.handler.routes[path] = route


@contextlib.contextmanager
def http_server() -> Iterator[HttpServer]:
    server = HttpServer()
    server.thread.start()
    try:
        yield server
    finally:
        server.server.shutdown()
        server.server.server_close()

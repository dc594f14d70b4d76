"""The operator as a real process with the platform team's emotion policy set to disabled, an
agent node that runs the inference pods, an RTSP camera that refuses to stream without its
login, and a webhook receiver that keeps every delivery as it arrived."""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import streams.server
from bench.operator_harness import OperatorProcess, running_operator
from classroom_inference.builder.reference_model import reference_model, reference_spec
from integration.operator_namespace import api, nodes, pool
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from streams.server import RtspServer
from streams.videos import pattern_video

__all__ = ["api", "nodes", "pool"]  # shared fixtures; this folder's own follow

SIZE = 32


@dataclass(frozen=True)
class Login:
    username: str = field(default_factory=lambda: f"viewer-{secrets.token_hex(4)}")
    password: str = field(default_factory=lambda: f"Pw-{secrets.token_urlsafe(18)}")


@dataclass
class Camera:
    server: RtspServer
    login: Login
    path: str

    @property
    def url(self) -> str:
        return self.server.url(self.path)


# Only the camera's login may read a stream; anyone may publish (the test's FFmpeg) and use the
# API from this machine (the server's readiness checks).
AUTH = """\
authMethod: internal
authInternalUsers:
- user: any
  pass:
  ips: []
  permissions:
  - action: publish
    path:
- user: any
  pass:
  ips: ['127.0.0.1', '::1']
  permissions:
  - action: api
- user: {username}
  pass: {password}
  ips: []
  permissions:
  - action: read
    path:
"""


@pytest.fixture(scope="module")
def camera(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Camera]:
    login = Login()
    folder = tmp_path_factory.mktemp("camera")
    video = pattern_video(folder / "seat.mp4", seconds=2, fps=5, width=64, height=64)
    server = RtspServer(folder / "mediamtx")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(streams.server, "CONFIG", streams.server.CONFIG + AUTH.format(
            username=login.username, password=login.password))
        server.start()
    try:
        camera = Camera(server, login, "room-a-seat-1")
        server.publish(camera.path, video)
        yield camera
    finally:
        server.stop()


@dataclass
class Delivery:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    url: str
    deliveries: list[Delivery] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    kept: list[Delivery] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            kept.append(Delivery(dict(self.headers.items()), body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/labels", kept)
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def operator(cluster: LocalCluster, pool: str, api: Api,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """`classroom-operator run` under the chart's default policy (emotion disabled)."""
    yield from running_operator(cluster, api, pool, tmp_path_factory.mktemp("operator"),
                                CLASSROOM_RESYNC_SECONDS="5", CLASSROOM_EMOTION_POLICY="disabled")


@pytest.fixture(scope="module")
def model_spec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """The reference model with all three heads, emotion included."""
    path = tmp_path_factory.mktemp("model") / "attention.onnx"
    path.write_bytes(reference_model(SIZE).SerializeToString())
    return reference_spec(path.as_uri(), hashlib.sha256(path.read_bytes()).hexdigest(), SIZE)


def pod_logs(cluster: LocalCluster, namespace: str) -> list[Path]:
    """Every container log the node agent kept for the namespace's pods."""
    return sorted(p for p in (cluster.state / "logs" / "pods" / namespace).rglob("*")
                  if p.is_file())

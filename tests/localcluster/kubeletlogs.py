"""The one endpoint of kubelet's server the local nodes serve: container logs, so `kubectl logs`
and `GET pods/{name}/log` work for pods the agent runs.

kube-apiserver reaches a node's kubelet at the node's InternalIP and
`status.daemonEndpoints.kubeletEndpoint.Port` over TLS, verifying the node's serving certificate
against the cluster CA and presenting its kubelet-client certificate (controlplane.py passes the
flags); this server accepts only clients with a certificate from the cluster CA, as a kubelet
with x509 authentication does. Logs are the files the agent writes for each container
(`logs/pods/<ns>/<pod>/<container>.log`, every run of the container appended).
"""

from __future__ import annotations

import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from localcluster.pki import CertPair

NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


def log_tail(data: bytes, tail_lines: int | None, limit_bytes: int | None) -> bytes:
    """What kubelet answers: the last `tail_lines` lines, then at most `limit_bytes` of them."""
    if tail_lines is not None:
        lines = data.splitlines(keepends=True)
        data = b"".join(lines[-tail_lines:]) if tail_lines > 0 else b""
    if limit_bytes is not None:
        data = data[:limit_bytes]
    return data


def _number(query: dict[str, list[str]], key: str) -> int | None:
    values = query.get(key)
    return int(values[0]) if values and values[0].isdigit() else None


class KubeletLogServer:
    """HTTPS on `address`, a free port; `port` is what the Node's status advertises."""

    def __init__(self, address: str, serving: CertPair, ca_cert: Path, logs_dir: Path) -> None:
        logs = logs_dir

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                parts = url.path.strip("/").split("/")
                if len(parts) != 4 or parts[0] != "containerLogs" or not all(
                        NAME.fullmatch(part) for part in parts[1:]):
                    self.send_error(404, "only /containerLogs/<namespace>/<pod>/<container>")
                    return
                namespace, pod, container = parts[1:]
                path = logs / namespace / pod / f"{container}.log"
                try:
                    data = path.read_bytes()
                except FileNotFoundError:
                    self.send_error(404, f"container {container} of {namespace}/{pod} has no log")
                    return
                query = parse_qs(url.query)
                body = log_tail(data, _number(query, "tailLines"), _number(query, "limitBytes"))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(serving.cert), str(serving.key))
        context.load_verify_locations(cafile=str(ca_cert))
        context.verify_mode = ssl.CERT_REQUIRED
        self._server = ThreadingHTTPServer((address, 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True,
                                        name=f"kubelet logs {address}")

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

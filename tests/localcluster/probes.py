"""Container probes as kubelet runs them: httpGet (host defaults to the pod IP), tcpSocket and exec,
with initialDelaySeconds, periodSeconds, timeoutSeconds and the success/failure thresholds."""

from __future__ import annotations

import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

Object = dict[str, Any]
Kind = Literal["startup", "readiness", "liveness"]
KINDS: tuple[Kind, ...] = ("startup", "readiness", "liveness")


def resolve_port(port: int | str, container: Object) -> int:
    """A probe's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for declared in container.get("ports", []):
        if declared.get("name") == port:
            return int(declared["containerPort"])
    raise ValueError(f"probe port {port!r} is not a named port of container {container['name']}")


def http_probe(spec: Object, pod_ip: str, container: Object, timeout: float) -> tuple[bool, str]:
    host = spec.get("host") or pod_ip
    scheme = str(spec.get("scheme", "HTTP")).lower()
    port = resolve_port(spec["port"], container)
    path = spec.get("path", "/")
    if not path.startswith("/"):
        path = "/" + path
    request = urllib.request.Request(f"{scheme}://{host}:{port}{path}")
    request.add_header("User-Agent", "kube-probe/1.36")
    for header in spec.get("httpHeaders", []):
        request.add_header(header["name"], header["value"])
    # kubelet does not verify certificates of HTTPS probes.
    context = ssl._create_unverified_context() if scheme == "https" else None
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return 200 <= response.status < 400, f"HTTP probe returned {response.status}"
    except urllib.error.HTTPError as error:
        return False, f"HTTP probe failed with statuscode: {error.code}"
    except (urllib.error.URLError, OSError) as error:
        reason = getattr(error, "reason", error)
        return False, f'Get "{scheme}://{host}:{port}{path}": {reason}'


def tcp_probe(spec: Object, pod_ip: str, container: Object, timeout: float) -> tuple[bool, str]:
    host = spec.get("host") or pod_ip
    port = resolve_port(spec["port"], container)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as error:
        return False, f"dial tcp {host}:{port}: {error}"


@dataclass
class Probe:
    """One probe of one container and its running result."""

    kind: Kind
    spec: Object
    run_exec: Callable[[list[str], float], tuple[bool, str]]
    result: bool = field(init=False)
    successes: int = 0
    failures: int = 0
    last_run: float = 0.0
    message: str = ""

    def __post_init__(self) -> None:
        # Liveness is assumed healthy until it fails; readiness and startup until they succeed.
        self.result = self.kind == "liveness"

    def due(self, started: float, now: float) -> bool:
        if now < started + int(self.spec.get("initialDelaySeconds", 0)):
            return False
        return now - self.last_run >= int(self.spec.get("periodSeconds", 10))

    def run(self, pod_ip: str, container: Object) -> bool:
        """Probe once and fold the outcome into `result` through the thresholds."""
        self.last_run = time.monotonic()
        timeout = float(self.spec.get("timeoutSeconds", 1))
        try:
            if "httpGet" in self.spec:
                ok, self.message = http_probe(self.spec["httpGet"], pod_ip, container, timeout)
            elif "tcpSocket" in self.spec:
                ok, self.message = tcp_probe(self.spec["tcpSocket"], pod_ip, container, timeout)
            elif "exec" in self.spec:
                ok, self.message = self.run_exec(list(self.spec["exec"]["command"]), timeout)
            else:
                ok, self.message = False, "probe type not supported by the local node agent"
        except ValueError as error:
            ok, self.message = False, str(error)
        if ok:
            self.successes, self.failures = self.successes + 1, 0
            if self.successes >= int(self.spec.get("successThreshold", 1)):
                self.result = True
        else:
            self.successes, self.failures = 0, self.failures + 1
            if self.failures >= int(self.spec.get("failureThreshold", 3)):
                self.result = False
        return self.result


def exec_probe(argv: list[str], env: dict[str, str], cwd: str,
               timeout: float) -> tuple[bool, str]:
    try:
        done = subprocess.run(argv, env=env, cwd=cwd, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return False, f"command timed out after {timeout:g}s"
    except OSError as error:
        return False, str(error)
    output = (done.stdout + done.stderr).decode(errors="replace")[-1024:]
    return done.returncode == 0, output

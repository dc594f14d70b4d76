"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, with TLS, service-account tokens, the RBAC authorizer and the default
admission plugins on. The local node agent (agent.py) runs beside it as one more process.
"""

from __future__ import annotations

import json
import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.pki import CertificateAuthority, CertPair, service_account_keys
from localcluster.processes import Component, ComponentFailed, free_port, stop_pidfile
from localcluster.toolchain import Binaries, ensure_binaries

SERVICE_CIDR = "10.96.0.0/16"
STARTUP_TIMEOUT = 90.0
PORT_ATTEMPTS = 3
# Order matters when stopping: the agent first (it stops its pods), etcd last.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "agent")


def kubeconfig_text(server: str, ca: Path, user: str, *, cert: CertPair | None = None,
                    token: str | None = None) -> str:
    credentials: dict[str, str] = {}
    if cert is not None:
        credentials = {"client-certificate": str(cert.cert), "client-key": str(cert.key)}
    if token is not None:
        credentials = {"token": token}
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "local", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "local", "context": {"cluster": "local", "user": user}}],
        "current-context": "local",
    }
    return json.dumps(config, indent=2)


@dataclass
class ControlPlane:
    """The control plane's processes, rooted in one state directory."""

    state: Path
    binaries: Binaries = field(default_factory=ensure_binaries)
    components: dict[str, Component] = field(default_factory=dict)

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def pki(self) -> Path:
        return self.state / "pki"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    @property
    def server_file(self) -> Path:
        return self.state / "server"

    def server(self) -> str:
        return self.server_file.read_text().strip()

    # -- start ---------------------------------------------------------------------------

    def start(self) -> None:
        self.state.mkdir(parents=True, exist_ok=True)
        self.logs.mkdir(exist_ok=True)
        ca = CertificateAuthority(self.pki)
        sa = service_account_keys(self.pki)
        serving = ca.issue(
            "apiserver", "kube-apiserver", server=True,
            dns_names=("localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"),
            ips=("127.0.0.1", "10.96.0.1"),
        )
        clients = {
            "admin": ca.issue("admin", "local-admin", organization="system:masters"),
            "kube-controller-manager": ca.issue("controller-manager", "system:kube-controller-manager"),
            "kube-scheduler": ca.issue("scheduler", "system:kube-scheduler"),
            "kwok": ca.issue("kwok", "kwok", organization="system:masters"),
        }
        etcd_url = self._start_with_retries("etcd", self._etcd)
        server = self._start_with_retries(
            "kube-apiserver", lambda port: self._apiserver(port, etcd_url, ca.pair, serving, sa)
        )
        self.server_file.write_text(server)
        for user, pair in clients.items():
            (self.state / f"{user}.kubeconfig").write_text(
                kubeconfig_text(server, ca.pair.cert, user, cert=pair)
            )
        self.kubeconfig.write_text(
            kubeconfig_text(server, ca.pair.cert, "admin", cert=clients["admin"])
        )
        self._wait_ready(server, ca.pair, clients["admin"])
        self._start_with_retries(
            "kube-controller-manager", lambda port: self._controller_manager(port, ca.pair, sa)
        )
        self._start_with_retries("kube-scheduler", self._scheduler)
        self._start_with_retries("kwok", self._kwok)

    def _start_with_retries(self, name: str, launch: object) -> str:
        assert callable(launch)
        last: ComponentFailed | None = None
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            try:
                result: str = launch(port)
                return result
            except ComponentFailed as failure:
                last = failure
                component = self.components.get(name)
                if component is None or not component.port_clash():
                    raise
                print(f"[localcluster] {name}: port {port} taken, retrying", file=sys.stderr)
        assert last is not None
        raise last

    def _component(self, name: str, argv: list[str]) -> Component:
        component = Component(
            name, argv, self.logs / f"{name}.log", self.state / f"{name}.pid", env=dict(os.environ)
        )
        component.start()
        self.components[name] = component
        return component

    def _expect_running(self, component: Component, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if component.exited() is not None:
                raise component.failure(f"exited with code {component.exited()}")
            time.sleep(0.2)

    def _etcd(self, port: int) -> str:
        peer = free_port()
        url = f"http://127.0.0.1:{port}"
        component = self._component("etcd", [
            str(self.binaries.etcd), "--name=local", f"--data-dir={self.state / 'etcd'}",
            f"--listen-client-urls={url}", f"--advertise-client-urls={url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=local=http://127.0.0.1:{peer}",
            "--unsafe-no-fsync", "--log-level=warn", "--quota-backend-bytes=4294967296",
        ])
        self._wait_http(component, f"{url}/health", None)
        return url

    def _apiserver(self, port: int, etcd: str, ca: CertPair, serving: CertPair, sa: CertPair) -> str:
        server = f"https://127.0.0.1:{port}"
        self._component("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={etcd}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={port}", f"--cert-dir={self.pki}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.cert}",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true", "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false", "--max-requests-inflight=2000",
            "--max-mutating-requests-inflight=1000", "--v=1",
        ])
        return server

    def _wait_ready(self, server: str, ca: CertPair, client: CertPair) -> None:
        self._wait_http(self.components["kube-apiserver"], f"{server}/readyz", (ca, client))

    def _controller_manager(self, port: int, ca: CertPair, sa: CertPair) -> str:
        kubeconfig = self.state / "kube-controller-manager.kubeconfig"
        component = self._component("kube-controller-manager", [
            str(self.binaries.kube_controller_manager),
            f"--kubeconfig={kubeconfig}", f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}", "--leader-elect=false",
            "--use-service-account-credentials=true",
            f"--service-account-private-key-file={sa.key}", f"--root-ca-file={ca.cert}",
            f"--cluster-signing-cert-file={ca.cert}", f"--cluster-signing-key-file={ca.key}",
            "--bind-address=127.0.0.1", f"--secure-port={port}",
            "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller",
            "--node-monitor-grace-period=40s", "--concurrent-job-syncs=20", "--v=1",
        ])
        self._expect_running(component, 2.0)
        return f"127.0.0.1:{port}"

    def _scheduler(self, port: int) -> str:
        kubeconfig = self.state / "kube-scheduler.kubeconfig"
        component = self._component("kube-scheduler", [
            str(self.binaries.kube_scheduler), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={port}", "--v=1",
        ])
        self._expect_running(component, 2.0)
        return f"127.0.0.1:{port}"

    def _kwok(self, port: int) -> str:
        component = self._component("kwok", [
            str(self.binaries.kwok), f"--kubeconfig={self.state / 'kwok.kubeconfig'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{port}", "--cidr=10.244.0.1/16", "--node-ip=127.0.0.1",
        ])
        self._expect_running(component, 2.0)
        return f"127.0.0.1:{port}"

    def _wait_http(self, component: Component, url: str,
                   tls: tuple[CertPair, CertPair] | None) -> None:
        context = None
        if tls is not None:
            context = ssl.create_default_context(cafile=str(tls[0].cert))
            context.load_cert_chain(str(tls[1].cert), str(tls[1].key))
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if component.exited() is not None:
                raise component.failure(f"exited with code {component.exited()}")
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.2)
        raise component.failure(f"was not healthy at {url} within {STARTUP_TIMEOUT:.0f}s")

    # -- watch and stop --------------------------------------------------------------------

    def check_alive(self) -> None:
        """Raise with the log tail of the first component that has exited."""
        for component in self.components.values():
            if component.exited() is not None:
                raise component.failure(f"exited with code {component.exited()}")

    def stop(self) -> None:
        for name in reversed(COMPONENTS):
            stop_pidfile(self.state / f"{name}.pid")
        self.components.clear()

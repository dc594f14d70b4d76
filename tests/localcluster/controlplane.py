"""A real Kubernetes control plane on loopback: etcd, kube-apiserver, kube-controller-manager,
kube-scheduler and kwok, with TLS, service-account tokens, the Node and RBAC authorizers and the
default admission plugins (plus NodeRestriction) on. Beside them run two local components: the
volume provisioner (provisioner.py) and the node agent (agent.py).

Every component authenticates with its own client certificate, so RBAC sees the identities it
would see in a real cluster. Ports are free ones picked at start; a clash is retried.
"""

from __future__ import annotations

import os
import ssl
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.containers import kill_leftovers
from localcluster.kubeapi import Api, ApiError, Credentials, kubeconfig_text
from localcluster.pki import CertificateAuthority, CertPair, service_account_keys
from localcluster.processes import Component, ComponentFailed, free_port, stop_pidfile
from localcluster.provisioner import (
    CLUSTER_ROLE,
    CLUSTER_ROLE_BINDING,
    IDENTITY,
    STORAGE_CLASS_OBJECT,
)
from localcluster.toolchain import Binaries, ensure_binaries

SERVICE_CIDR = "10.96.0.0/16"
STARTUP_TIMEOUT = 90.0
PORT_ATTEMPTS = 3
# Started in this order, stopped in the reverse: the agent first (it ends its pods), etcd last.
COMPONENTS = ("etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
              "provisioner", "agent")
TESTS_DIR = Path(__file__).resolve().parent.parent


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

    def admin(self) -> Api:
        return Api(Credentials.from_kubeconfig(self.kubeconfig))

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
            "kube-controller-manager": ca.issue("controller-manager",
                                                "system:kube-controller-manager"),
            "kube-scheduler": ca.issue("scheduler", "system:kube-scheduler"),
            # kwok acts for hundreds of nodes at once; a kubelet identity covers only one.
            "kwok": ca.issue("kwok", "kwok", organization="system:masters"),
            "provisioner": ca.issue("provisioner", IDENTITY),
        }
        # What kube-apiserver shows the agent nodes' log servers (kubeletlogs.py).
        kubelet_client = ca.issue("apiserver-kubelet-client", "kube-apiserver-kubelet-client",
                                  organization="system:masters")
        etcd_url = self._start_with_retries("etcd", self._etcd)
        server = self._start_with_retries(
            "kube-apiserver",
            lambda port: self._apiserver(port, etcd_url, ca.pair, serving, sa, clients["admin"],
                                         kubelet_client),
        )
        self.server_file.write_text(server)
        for user, pair in clients.items():
            (self.state / f"{user}.kubeconfig").write_text(
                kubeconfig_text(server, ca.pair.cert, user, cert=pair.cert, key=pair.key)
            )
        self.kubeconfig.write_text((self.state / "admin.kubeconfig").read_text())
        self._bootstrap()
        self._start_with_retries(
            "kube-controller-manager", lambda port: self._controller_manager(port, ca.pair, sa)
        )
        self._start_with_retries("kube-scheduler", self._scheduler)
        self._start_with_retries("kwok", self._kwok)
        self._python_component("provisioner", "localcluster.provisioner")
        self.start_agent()
        self._wait_settled()

    def start_agent(self) -> None:
        self._python_component("agent", "localcluster.agent",
                               "--bin", str(Path(sys.executable).parent))

    def _start_with_retries(self, name: str, launch: Callable[[int], str]) -> str:
        last: ComponentFailed | None = None
        for _ in range(PORT_ATTEMPTS):
            port = free_port()
            try:
                return launch(port)
            except ComponentFailed as failure:
                last = failure
                component = self.components.get(name)
                if component is None or not component.port_clash():
                    raise
                print(f"[localcluster] {name}: port {port} taken, retrying", file=sys.stderr)
        assert last is not None
        raise last

    def _component(self, name: str, argv: list[str],
                   env: dict[str, str] | None = None) -> Component:
        component = Component(
            name, argv, self.logs / f"{name}.log", self.state / f"{name}.pid",
            env={**os.environ, **(env or {})},
        )
        component.start()
        self.components[name] = component
        return component

    def _python_component(self, name: str, module: str, *args: str) -> None:
        path = os.pathsep.join(p for p in (str(TESTS_DIR), os.environ.get("PYTHONPATH")) if p)
        component = self._component(
            name, [sys.executable, "-m", module, "--state", str(self.state), *args],
            env={"PYTHONPATH": path, "PYTHONUNBUFFERED": "1"},
        )
        self._expect_running(component, 1.0)

    def _expect_running(self, component: Component, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if component.exited() is not None:
                raise component.failure(f"exited with code {component.exited()}")
            time.sleep(0.1)

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

    def _apiserver(self, port: int, etcd: str, ca: CertPair, serving: CertPair,
                   sa: CertPair, admin: CertPair, kubelet_client: CertPair) -> str:
        server = f"https://127.0.0.1:{port}"
        component = self._component("kube-apiserver", [
            str(self.binaries.kube_apiserver),
            f"--etcd-servers={etcd}", "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={port}", f"--cert-dir={self.pki}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={ca.cert}",
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--allow-privileged=true", "--endpoint-reconciler-type=none",
            "--enable-priority-and-fairness=false", "--max-requests-inflight=2000",
            "--max-mutating-requests-inflight=1000", "--v=1",
            # Logs, exec and port-forward of the nodes' pods (agent and real kubelet nodes): at
            # their InternalIP (their Hostname resolves nowhere), their serving certificates
            # checked against the cluster CA.
            "--kubelet-preferred-address-types=InternalIP",
            f"--kubelet-certificate-authority={ca.cert}",
            f"--kubelet-client-certificate={kubelet_client.cert}",
            f"--kubelet-client-key={kubelet_client.key}",
        ])
        context = ssl.create_default_context(cafile=str(ca.cert))
        context.load_cert_chain(str(admin.cert), str(admin.key))
        self._wait_http(component, f"{server}/readyz", context)
        return server

    def _bootstrap(self) -> None:
        """Cluster objects the local components rely on: the default StorageClass and the
        provisioner's RBAC."""
        api = self.admin()
        for path, body in (
            ("/apis/storage.k8s.io/v1/storageclasses", STORAGE_CLASS_OBJECT),
            ("/apis/rbac.authorization.k8s.io/v1/clusterroles", CLUSTER_ROLE),
            ("/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", CLUSTER_ROLE_BINDING),
        ):
            try:
                api.create(path, body)
            except ApiError as error:
                if error.status != 409:
                    raise
        api.close()

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
        self._wait_http(component, f"https://127.0.0.1:{port}/healthz", _insecure())
        return f"127.0.0.1:{port}"

    def _scheduler(self, port: int) -> str:
        kubeconfig = self.state / "kube-scheduler.kubeconfig"
        component = self._component("kube-scheduler", [
            str(self.binaries.kube_scheduler), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={port}", "--v=1",
        ])
        self._wait_http(component, f"https://127.0.0.1:{port}/healthz", _insecure())
        return f"127.0.0.1:{port}"

    def _kwok(self, port: int) -> str:
        # No Stage objects are given, so kwok v0.7 uses its defaults: node-initialize and
        # node-heartbeat-with-lease keep its nodes Ready; pod-ready, pod-complete (pods owned by
        # a Job) and pod-delete move their pods along. That is all the fleets need.
        component = self._component("kwok", [
            str(self.binaries.kwok), f"--kubeconfig={self.state / 'kwok.kubeconfig'}",
            "--manage-all-nodes=false",
            "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
            f"--server-address=127.0.0.1:{port}", "--cidr=10.244.0.1/16", "--node-ip=127.0.0.1",
        ])
        self._wait_http(component, f"http://127.0.0.1:{port}/healthz", None)
        return f"127.0.0.1:{port}"

    def _wait_settled(self) -> None:
        """The controllers work: the default namespace has its ServiceAccount and root CA."""
        api = self.admin()
        deadline = time.monotonic() + STARTUP_TIMEOUT
        try:
            while time.monotonic() < deadline:
                self.check_alive()
                account = api.get_or_none("/api/v1/namespaces/default/serviceaccounts/default")
                root_ca = api.get_or_none("/api/v1/namespaces/default/configmaps/kube-root-ca.crt")
                if account is not None and root_ca is not None:
                    return
                time.sleep(0.2)
        finally:
            api.close()
        raise self.components["kube-controller-manager"].failure(
            "did not create the default ServiceAccount in time")

    def _wait_http(self, component: Component, url: str, context: ssl.SSLContext | None) -> None:
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
        stop_components(self.state)
        self.components.clear()


def stop_components(state: Path) -> None:
    """Stop what a state folder's pid files name, the agent first, then sweep pod processes."""
    for name in reversed(COMPONENTS):
        # The agent gives its pods a short grace each before it exits.
        stop_pidfile(state / f"{name}.pid", grace=30.0 if name == "agent" else 10.0)
    kill_leftovers(state / "agent" / "pods")


def _insecure() -> ssl.SSLContext:
    """For the health endpoints of controller-manager and scheduler (self-signed serving certs)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context

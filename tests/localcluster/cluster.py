"""LocalCluster: the local Kubernetes as tests and people use it — start and stop it, run kubectl
and helm against it, add and relabel simulated nodes, read a pod's log."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kubernetes.client import ApiClient
from kubernetes.config import new_client_from_config

from localcluster.addresses import NODE_FIRST_OCTET, address, cluster_block
from localcluster.controlplane import COMPONENTS, ControlPlane, stop_components
from localcluster.images import ensure_images, ensure_pause_image
from localcluster.kubeapi import MERGE, Api, ApiError, Credentials
from localcluster.nodes import (
    CpuNode,
    GpuNode,
    NodeSpec,
    default_nodes,
    relabel_patch,
    write_agent_node,
)
from localcluster.processes import ComponentFailed, log_tail, stop_pidfile
from localcluster.realnode import RealNode, next_index, stop_real_nodes
from localcluster.toolchain import Binaries, cache_root, ensure_binaries

NODE_READY_TIMEOUT = 60.0


def default_state(name: str = "local") -> Path:
    return cache_root() / "clusters" / name


class CommandFailed(subprocess.CalledProcessError):
    """kubectl or helm failed; the message carries its stderr."""

    def __str__(self) -> str:
        return f"{' '.join(map(str, self.cmd))} exited {self.returncode}: {self.stderr.strip()}"


class LocalCluster:
    """A local cluster rooted in a state folder (kubeconfig, pki, etcd data, logs, pods)."""

    def __init__(self, state: Path, binaries: Binaries | None = None) -> None:
        self.state = state
        self._binaries = binaries

    @property
    def binaries(self) -> Binaries:
        """The pinned binaries, built on first use (minutes, once per machine)."""
        if self._binaries is None:
            self._binaries = ensure_binaries()
        return self._binaries

    @classmethod
    def attach(cls, kubeconfig: Path) -> LocalCluster:
        """A cluster already running from `python -m localcluster up`, by its kubeconfig."""
        state = kubeconfig.resolve().parent
        if not (state / "server").exists() or not (state / "agent").is_dir():
            raise ValueError(f"{kubeconfig} is not the kubeconfig of a local cluster "
                             "(expected it in a state folder made by `python -m localcluster up`)")
        cluster = cls(state)
        cluster.check_alive()
        return cluster

    # -- paths ------------------------------------------------------------------------------

    @property
    def kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs"

    @property
    def nodes_dir(self) -> Path:
        return self.state / "agent" / "nodes"

    @property
    def agent_nodes(self) -> list[str]:
        return sorted(p.stem for p in self.nodes_dir.glob("*.json"))

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, nodes: Iterable[GpuNode | CpuNode] | None = None) -> None:
        """Start everything and add `nodes` (default: the two GPU classes of the local default).
        On failure, what did start is stopped again and ComponentFailed carries the log tail."""
        try:
            ControlPlane(self.state, self.binaries).start()
            self.add_nodes(*(default_nodes() if nodes is None else nodes))
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every component and every pod process (real nodes first: their kubelets end
        their containers); the state folder stays."""
        if (self.state / "realnode").is_dir():
            stop_real_nodes(self.state, self.binaries)
        stop_components(self.state)

    def add_real_node(self, node: GpuNode | CpuNode) -> RealNode:
        """Start a node run by a real kubelet with containerd and runc, carrying `node`'s labels
        (GFD's for a GPU node), taints and extended resources, with the images of `make images`
        loaded (up to four per cluster). Raises RealNodeError naming what this machine lacks."""
        spec = node.spec()
        block = cluster_block(self.state, cache_root() / "address-blocks")
        real = RealNode(spec.name, self.state, block, next_index(self.state, spec.name),
                        self.binaries, labels=spec.labels, taints=spec.taints)
        api = self.api()
        real.start(api, (self.state / "server").read_text().strip(), ensure_images(),
                   ensure_pause_image(self.binaries.pause))
        extended = {k: v for k, v in spec.capacity.items() if "/" in k}
        if extended:
            # What a device plugin would advertise; the kubelet keeps capacity patched this way.
            api.patch(f"/api/v1/nodes/{spec.name}/status", {"status": {"capacity": extended}},
                      content_type=MERGE)
        return real

    def running(self) -> bool:
        """Every component is alive and the API server answers."""
        try:
            self.check_alive()
            self.api().get("/version")
        except (ComponentFailed, ApiError, OSError, ValueError):
            return False
        return True

    def stop_agent(self, *, crash: bool = False) -> None:
        """Stop the node agent: SIGTERM (a node shutdown: its pods' processes end) or, with
        `crash`, SIGKILL (they keep running, and the next agent adopts them)."""
        if crash:
            stop_pidfile(self.state / "agent.pid", grace=0.0, first=signal.SIGKILL)
        else:
            stop_pidfile(self.state / "agent.pid", grace=30.0)

    def start_agent(self) -> None:
        ControlPlane(self.state, self.binaries).start_agent()

    def check_alive(self) -> None:
        """Raise ComponentFailed, with its log tail, if any component has exited."""
        for name in COMPONENTS:
            pidfile = self.state / f"{name}.pid"
            try:
                pid = int(pidfile.read_text())
                os.kill(pid, 0)
                if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                    raise ProcessLookupError(pid)
            except (OSError, ValueError):
                log = self.logs_dir / f"{name}.log"
                raise ComponentFailed(
                    f"{name} is not running; last lines of {log}:\n{log_tail(log)}"
                ) from None

    # -- clients ----------------------------------------------------------------------------

    def api(self) -> Api:
        """The admin identity (system:masters) as a plain JSON client."""
        return Api(Credentials.from_kubeconfig(self.kubeconfig))

    def api_client(self) -> ApiClient:
        """The admin identity as a `kubernetes` ApiClient, for the typed APIs."""
        return new_client_from_config(config_file=str(self.kubeconfig))

    def kubectl(self, *args: str, input: str | None = None, check: bool = True,
                timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        argv = [str(self.binaries.kubectl), f"--kubeconfig={self.kubeconfig}", *args]
        return self._run(argv, input, check, timeout, os.environ)

    def helm(self, *args: str, input: str | None = None, check: bool = True,
             timeout: float = 300.0) -> subprocess.CompletedProcess[str]:
        helm_home = self.state / "helm"
        env = {**os.environ, "KUBECONFIG": str(self.kubeconfig),
               "HELM_CACHE_HOME": str(helm_home / "cache"),
               "HELM_CONFIG_HOME": str(helm_home / "config"),
               "HELM_DATA_HOME": str(helm_home / "data")}
        return self._run([str(self.binaries.helm), *args], input, check, timeout, env)

    @staticmethod
    def _run(argv: list[str], input: str | None, check: bool, timeout: float,
             env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(argv, input=input, capture_output=True, text=True,
                              timeout=timeout, env=dict(env))
        if check and done.returncode != 0:
            raise CommandFailed(done.returncode, argv, done.stdout, done.stderr)
        return done

    # -- nodes ------------------------------------------------------------------------------

    def add_nodes(self, *nodes: GpuNode | CpuNode, wait: bool = True) -> None:
        """Register nodes: kwok ones through the API, agent ones by handing them to the agent
        (it registers them as their kubelet would). Waits until all are Ready."""
        api = self.api()
        used = {NodeSpec.from_json(p.read_text()).address for p in self.nodes_dir.glob("*.json")}
        free = (address(i, NODE_FIRST_OCTET) for i in range(10_000))
        for node in nodes:
            spec = node.spec()
            if spec.runner == "kwok":
                _create_kwok_node(api, spec)
                continue
            ip = next(a for a in free if a not in used)
            used.add(ip)
            write_agent_node(self.nodes_dir, NodeSpec(spec.name, spec.labels, spec.capacity,
                                                      spec.runner, spec.taints, ip))
        if wait:
            for node in nodes:
                self.wait_node_ready(node.name)

    def remove_nodes(self, *names: str) -> None:
        """Take nodes away: the agent stops running an agent node's pods; the Node objects
        are deleted (their pods then go, as the pod garbage collector decides)."""
        api = self.api()
        for name in names:
            (self.nodes_dir / f"{name}.json").unlink(missing_ok=True)
            api.delete(f"/api/v1/nodes/{name}")

    def wait_node_ready(self, name: str, timeout: float = NODE_READY_TIMEOUT) -> None:
        api = self.api()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            node = api.get_or_none(f"/api/v1/nodes/{name}")
            conditions = (node or {}).get("status", {}).get("conditions", [])
            if any(c["type"] == "Ready" and c["status"] == "True" for c in conditions):
                return
            self.check_alive()
            time.sleep(0.2)
        agent_log = self.logs_dir / "agent.log"
        raise TimeoutError(f"node {name} not Ready after {timeout:.0f}s; agent log:\n"
                           f"{log_tail(agent_log)}")

    def relabel_node(self, name: str, labels: Mapping[str, str | None]) -> None:
        """Set labels (None removes one), as GPU Feature Discovery does after a change."""
        self.api().patch(f"/api/v1/nodes/{name}", {"metadata": {"labels": dict(labels)}},
                         content_type=MERGE)

    def swap_gpu(self, name: str, gpu: GpuNode | None) -> None:
        """The node now has `gpu` (None: no GPU): GFD labels and `nvidia.com/gpu` capacity."""
        api = self.api()
        node = api.get(f"/api/v1/nodes/{name}")
        self.relabel_node(name, relabel_patch(node["metadata"].get("labels", {}), gpu))
        count = {"nvidia.com/gpu": str(gpu.count) if gpu else None}
        described = self.nodes_dir / f"{name}.json"
        if described.exists():  # the agent reports capacity, as the device plugin would
            spec = NodeSpec.from_json(described.read_text())
            capacity = {k: v for k, v in {**spec.capacity, **count}.items() if v is not None}
            write_agent_node(self.nodes_dir, NodeSpec(spec.name, spec.labels, capacity,
                                                      spec.runner, spec.taints, spec.address))
        else:
            api.patch(f"/api/v1/nodes/{name}/status",
                      {"status": {"capacity": count, "allocatable": count}}, content_type=MERGE)

    # -- pods -------------------------------------------------------------------------------

    def pod_log(self, namespace: str, name: str, container: str | None = None) -> str:
        """What a pod run by the node agent wrote to stdout and stderr (all its runs)."""
        folder = self.logs_dir / "pods" / namespace / name
        logs = sorted(folder.glob("*.log"))
        if container is not None:
            logs = [folder / f"{container}.log"]
        return "".join(p.read_text(errors="replace") for p in logs if p.exists())

    def purge(self) -> None:
        """Remove the state folder (after stop)."""
        self.stop()
        shutil.rmtree(self.state, ignore_errors=True)

    def describe(self) -> dict[str, Any]:
        return {"kubeconfig": str(self.kubeconfig), "server": (self.state / "server").read_text(),
                "agentNodes": self.agent_nodes, "logs": str(self.logs_dir)}


def _create_kwok_node(api: Api, spec: NodeSpec) -> None:
    manifest = spec.manifest()
    try:
        api.create("/api/v1/nodes", manifest)
    except ApiError as error:
        if error.status != 409:
            raise
    # Status given at creation may be dropped; kwok keeps what is there, so set it explicitly.
    api.patch(f"/api/v1/nodes/{spec.name}/status", {"status": manifest["status"]},
              content_type=MERGE)

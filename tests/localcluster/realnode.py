"""A node run by a real kubelet, with containerd, runc and the standard CNI plugins.

Its pods are containers made from the images of `make images`, imported into containerd (no
registry is reachable, so nothing is pulled: pods use imagePullPolicy Never or IfNotPresent).
Every real node belongs to one local cluster and keeps all of its state under the cluster's
state folder (`realnode/<name>/`): containerd's root and state, the kubelet's root, the CNI
configuration and address leases. Its sockets live under /run/classroom-operator/<block>-<index>/
(a unix socket path may not exceed 107 bytes).

Networking: one Linux bridge per node (`clop<block>n<index>`), pod addresses from a quarter of
100.64.<block>.0/24 (host-local IPAM): up to four real nodes per cluster, and clusters side by side
never share a bridge or an address. Pods on two nodes reach each other through this machine's
routing between the bridges. There is no
kube-proxy: the one Service pods need, `kubernetes` (10.96.0.1:443, the address kubelet puts in
KUBERNETES_SERVICE_HOST), is translated by one DNAT rule to the API server on 127.0.0.1, which
the bridge may route to because its `route_localnet` is on.

Needs root, containerd, runc and the CNI plugins (Debian: containerd runc
containernetworking-plugins iptables), and the kubelet and pause binaries of toolchain.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from localcluster.images import BuiltImage
from localcluster.kubeapi import Api, ApiError, kubeconfig_text
from localcluster.pki import CertificateAuthority
from localcluster.processes import Component, ComponentFailed, free_port, stop_pidfile
from localcluster.toolchain import Binaries

CNI_BIN = Path("/usr/lib/cni")
RUNC = "runc"
KUBERNETES_SERVICE = ("10.96.0.1", 443)
# containerd and so every container start with these limits. Root here lacks CAP_SYS_RESOURCE, so
# no limit may exceed the machine's hard one (nofile 20000 on the machine this was made on):
# runc would fail to set it (EPERM), as podman's default of 1048576 open files does.
NOFILE = 16384
NPROC = 8192
READY_TIMEOUT = 90.0
MAX_NODES = 4


class RealNodeError(RuntimeError):
    """The real node could not start; the message says which part and why."""


def missing_capabilities() -> list[str]:
    """What this machine lacks to run a real node (empty: it can)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (the kubelet and containerd manage mounts, cgroups and networks)")
    for tool in ("containerd", "containerd-shim-runc-v2", RUNC, "ctr", "iptables", "ip"):
        if shutil.which(tool) is None:
            missing.append(f"{tool} (apt-get install containerd runc iptables iproute2)")
    for plugin in ("bridge", "host-local", "loopback", "portmap"):
        if not (CNI_BIN / plugin).is_file():
            missing.append(f"the CNI plugin {plugin} (apt-get install containernetworking-plugins)")
    return missing


def _run(argv: list[str], what: str, check: bool = True) -> str:
    result = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        lines = [ln for ln in (result.stderr + result.stdout).splitlines() if ln.strip()]
        raise RealNodeError(f"{what} failed: {lines[-1] if lines else 'no output'}")
    return result.stdout


@dataclass
class RealNode:
    """Real node `index` (0 to 3) of the cluster rooted at `state`, whose addresses are block
    `block`."""

    name: str
    state: Path
    block: int
    index: int
    binaries: Binaries
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: list[dict[str, str]] = field(default_factory=list)
    components: dict[str, Component] = field(default_factory=dict)

    # -- paths ---------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.state / "realnode" / self.name

    @property
    def run_dir(self) -> Path:
        return Path("/run/classroom-operator") / f"{self.block}-{self.index}"

    @property
    def kubelet_root(self) -> Path:
        """The kubelet's root: short, because it holds unix sockets (pod-resources, plugins)
        and a cluster's state folder may be deep."""
        return Path("/var/lib/classroom-operator") / f"{self.block}-{self.index}" / "kubelet"

    @property
    def containerd_socket(self) -> Path:
        return self.run_dir / "containerd.sock"

    @property
    def bridge(self) -> str:
        return f"clop{self.block}n{self.index}"

    @property
    def pod_subnet(self) -> str:
        return f"100.64.{self.block}.{64 * self.index}/26"

    @property
    def gateway(self) -> str:
        return f"100.64.{self.block}.{64 * self.index + 1}"

    @property
    def logs(self) -> Path:
        return self.state / "logs"

    # -- start ---------------------------------------------------------------------------

    def start(self, api: Api, server: str, images: list[BuiltImage], pause: BuiltImage) -> None:
        missing = missing_capabilities()
        if missing:
            raise RealNodeError("this machine cannot run a real node: it lacks "
                                + "; ".join(missing))
        self.root.mkdir(parents=True, exist_ok=True)
        self.kubelet_root.mkdir(parents=True, exist_ok=True)
        (self.root / "node.json").write_text(json.dumps(
            {"name": self.name, "block": self.block, "index": self.index}))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._network(server)
        self._make_cgroups()
        self._start_containerd(pause)
        for image in [pause, *images]:
            self.load(image)
        self._start_kubelet(server)
        self.wait_ready(api)

    def _network(self, server: str) -> None:
        """The bridge, its route to the API server, and the CNI configuration of the pods."""
        if _run(["ip", "link", "show", self.bridge], "", check=False) == "":
            _run(["ip", "link", "add", self.bridge, "type", "bridge"], "creating the bridge")
        _run(["ip", "link", "set", self.bridge, "up"], "bringing the bridge up")
        # The gateway's address is also the node's InternalIP: the kubelet refuses a loopback
        # node IP, and the API server reaches the kubelet (logs, exec) on it.
        if f"{self.gateway}/" not in _run(["ip", "-4", "addr", "show", self.bridge], ""):
            _run(["ip", "addr", "add", f"{self.gateway}/26", "dev", self.bridge],
                 "giving the bridge its gateway address")
        Path(f"/proc/sys/net/ipv4/conf/{self.bridge}/route_localnet").write_text("1")
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        port = server.rsplit(":", 1)[1]
        rule = self._dnat_rule(int(port))
        if subprocess.run(["iptables", "-t", "nat", "-C", *rule], capture_output=True,
                          check=False).returncode != 0:
            _run(["iptables", "-t", "nat", "-A", *rule], "adding the API server's DNAT rule")
        (self.root / "dnat-rule.json").write_text(json.dumps(rule))
        net_d = self.root / "cni" / "net.d"
        net_d.mkdir(parents=True, exist_ok=True)
        (net_d / "10-classroom.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0",
            "name": f"classroom-{self.block}-{self.index}",
            "plugins": [
                {"type": "bridge", "bridge": self.bridge, "isGateway": True,
                 # No masquerading: pods talk to this machine and each other only.
                 "ipMasq": False, "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": self.pod_subnet,
                                                             "gateway": self.gateway}]],
                          "routes": [{"dst": "0.0.0.0/0"}],
                          "dataDir": str(self.root / "cni" / "ipam")}},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }, indent=2))

    def _dnat_rule(self, port: int) -> list[str]:
        host, service_port = KUBERNETES_SERVICE
        return ["PREROUTING", "-s", self.pod_subnet, "-d", host, "-p", "tcp",
                "--dport", str(service_port), "-j", "DNAT", "--to-destination",
                f"127.0.0.1:{port}", "-m", "comment", "--comment",
                f"classroom-operator local cluster {self.block} node {self.index}: "
                "kubernetes service"]

    @property
    def cgroup_root(self) -> str:
        return f"classroom-operator-{self.block}-{self.index}"

    def _hierarchies(self) -> list[Path]:
        """The cgroup hierarchies mounted under /sys/fs/cgroup: the v1 controllers (and the v2
        one beside them on a hybrid machine), or the v2 root itself on a unified one."""
        base = Path("/sys/fs/cgroup")
        if (base / "cgroup.controllers").exists():
            return [base]
        return [p for p in sorted(base.iterdir()) if p.is_dir() and not p.is_symlink()]

    def _make_cgroups(self) -> None:
        """The kubelet's cgroupRoot must exist in every hierarchy before it starts. A new v1
        cpuset has no CPUs or memory nodes until given its parent's."""
        for hierarchy in self._hierarchies():
            folder = hierarchy / self.cgroup_root
            folder.mkdir(exist_ok=True)
            for name in ("cpuset.cpus", "cpuset.mems"):
                if (folder / name).exists() and not (folder / name).read_text().strip():
                    (folder / name).write_text((hierarchy / name).read_text())

    def _remove_cgroups(self) -> None:
        for hierarchy in self._hierarchies():
            folder = hierarchy / self.cgroup_root
            if folder.is_dir():
                for sub in sorted((p for p in folder.rglob("*") if p.is_dir()),
                                  key=lambda p: len(p.parts), reverse=True):
                    with contextlib.suppress(OSError):
                        sub.rmdir()
                with contextlib.suppress(OSError):
                    folder.rmdir()

    def _containerd_config(self, pause: BuiltImage) -> str:
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        return f"""version = 2
root = "{self.root / 'containerd'}"
state = "{self.run_dir / 'containerd'}"

[grpc]
  address = "{self.containerd_socket}"

[ttrpc]
  address = "{self.run_dir / 'containerd.sock.ttrpc'}"

[debug]
  level = "info"

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.root / 'opt'}"

[{cri}]
  # Built here from tests/localcluster/gomod/pause: registry.k8s.io is not reachable.
  sandbox_image = "{pause.reference}"
  # No AppArmor on this kind of machine; seccomp (RuntimeDefault) is what the pods rely on.
  disable_apparmor = true
  # Pod network namespaces under the node's own state, so stopping the node finds them all.
  netns_mounts_under_state_dir = true
  # Root here lacks CAP_SYS_RESOURCE: lowering a process's oom_score_adj (the kubelet asks -998
  # for sandboxes) fails with EPERM in runc's nsexec, so scores are kept at containerd's own or
  # above.
  restrict_oom_score_adj = true

[{cri}.containerd]
  snapshotter = "overlayfs"
  default_runtime_name = "runc"

[{cri}.containerd.runtimes.runc]
  runtime_type = "io.containerd.runc.v2"

[{cri}.containerd.runtimes.runc.options]
  BinaryName = "{shutil.which(RUNC)}"
  # runc's state of this node's containers, apart from any other containerd's.
  Root = "{self.run_dir / 'runc'}"
  # The kubelet's cgroup driver is cgroupfs (no systemd here); both must agree.
  SystemdCgroup = false

[{cri}.cni]
  bin_dir = "{CNI_BIN}"
  conf_dir = "{self.root / 'cni' / 'net.d'}"
  max_conf_num = 1

[{cri}.registry]
  config_path = ""
"""

    def _start_containerd(self, pause: BuiltImage) -> None:
        config = self.root / "containerd.toml"
        config.write_text(self._containerd_config(pause))
        component = Component(
            f"containerd-{self.name}", ["containerd", "--config", str(config)],
            self.logs / f"containerd-{self.name}.log", self.root / "containerd.pid",
            env={**os.environ, "PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")},
        )
        _with_limits(component)
        self.components["containerd"] = component
        deadline = time.monotonic() + 30
        while not self._ctr_ok():
            if component.exited() is not None:
                raise component.failure(f"exited with code {component.exited()}")
            if time.monotonic() > deadline:
                raise component.failure("did not answer on its socket in 30 s")
            time.sleep(0.2)

    def ctr(self, *args: str, what: str = "ctr") -> str:
        return _run(["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io",
                     *args], what)

    def _ctr_ok(self) -> bool:
        if not self.containerd_socket.exists():
            return False
        return subprocess.run(["ctr", "--address", str(self.containerd_socket), "version"],
                              capture_output=True, check=False).returncode == 0

    def load(self, image: BuiltImage) -> None:
        """Import an image's OCI archive into the node's containerd (what a pull would do)."""
        listed = self.ctr("images", "list", "--quiet", what="listing images")
        if image.reference in listed.split():
            return
        self.ctr("images", "import", "--all-platforms", "--snapshotter", "overlayfs",
                 "--index-name", image.reference, str(image.archive),
                 what=f"importing {image.reference}")

    def _kubelet_config(self, ca: Path, port: int, healthz: int) -> str:
        return f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# No systemd is PID 1 here: the kubelet creates pod cgroups itself (and containerd's runc
# options say SystemdCgroup = false to match).
cgroupDriver: cgroupfs
# This machine mounts the cgroup v1 controllers with a v2 hierarchy beside them (hybrid); the
# kubelet refuses cgroup v1 unless told otherwise (KEP-5573).
failCgroupV1: false
# Each local cluster's pods live under their own cgroup, so clusters side by side never touch
# each other's pods.
cgroupRoot: /{self.cgroup_root}
cgroupsPerQOS: true
# The kubelet serves logs, exec and port-forward on the node's address (the bridge's) and a port
# of its own: several clusters' kubelets may run at once.
address: {self.gateway}
port: {port}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: {healthz}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {ca}
authorization:
  mode: Webhook
containerRuntimeEndpoint: unix://{self.containerd_socket}
# Container logs with the node's other state, not in the machine's /var/log/pods.
podLogsDir: {self.root / 'pods'}
# No registry is reachable: an image removed by garbage collection could never come back, so
# image GC is off (a high threshold of 100 % disables it).
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
# The disk is shared with builds and other clusters; evict only when it is really full.
evictionHard:
  memory.available: 100Mi
  nodefs.available: 2%
  imagefs.available: 2%
# This machine has no swap, but one that has must not stop the node from starting.
failSwapOn: false
# The node's pods must not exceed what a container may open or start (see NOFILE/NPROC).
podPidsLimit: {NPROC}
maxPods: 30
# No cluster DNS is deployed: pods resolve with this machine's resolv.conf.
resolvConf: /etc/resolv.conf
# Status every 10 s keeps the node Ready under a busy machine without flooding the API.
nodeStatusUpdateFrequency: 10s
# ConfigMap volumes (the inference pods' assignments) are rewritten at pod syncs: with the
# default minute a room takes one to two minutes to move between pods (a pool rollover waits for
# it); 10 s keeps local rollovers short. Production nodes keep the default.
syncFrequency: 10s
serializeImagePulls: false
# Containers stop as the pod's grace period says; the node itself stops by the harness.
shutdownGracePeriod: 0s
"""

    def _start_kubelet(self, server: str) -> None:
        ca = CertificateAuthority(self.state / "pki")
        pair = ca.issue(f"node-{self.name}", f"system:node:{self.name}",
                        organization="system:nodes")
        kubeconfig = self.root / "kubelet.kubeconfig"
        kubeconfig.write_text(kubeconfig_text(server, ca.pair.cert, f"system:node:{self.name}",
                                              cert=pair.cert, key=pair.key))
        # Served with a certificate of the cluster CA, which kube-apiserver checks when it asks
        # the kubelet for logs, exec or port-forward.
        serving = ca.issue(f"node-{self.name}-serving", f"system:node:{self.name}",
                           organization="system:nodes", server=True,
                           dns_names=(self.name,), ips=(self.gateway,))
        config = self.root / "kubelet.yaml"
        config.write_text(self._kubelet_config(ca.pair.cert, free_port(), free_port())
                          + f"tlsCertFile: {serving.cert}\ntlsPrivateKeyFile: {serving.key}\n")
        labels = ",".join(f"{k}={v}" for k, v in sorted(self.labels.items()))
        taints = ",".join(f"{t['key']}={t.get('value', '')}:{t['effect']}" for t in self.taints)
        argv = [str(self.binaries.kubelet), f"--config={config}", f"--kubeconfig={kubeconfig}",
                f"--root-dir={self.kubelet_root}", f"--hostname-override={self.name}",
                f"--node-ip={self.gateway}", f"--cert-dir={self.root / 'kubelet-pki'}", "--v=1"]
        if labels:
            argv.append(f"--node-labels={labels}")
        if taints:
            argv.append(f"--register-with-taints={taints}")
        component = Component(f"kubelet-{self.name}", argv, self.logs / f"kubelet-{self.name}.log",
                              self.root / "kubelet.pid", env=dict(os.environ))
        component.start()
        self.components["kubelet"] = component

    def wait_ready(self, api: Api, timeout: float = READY_TIMEOUT) -> None:
        """Until this kubelet reports the node Ready (a Node left by an earlier run of the
        cluster may still say Ready: its heartbeat is older than this start)."""
        kubelet = self.components["kubelet"]
        started = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if kubelet.exited() is not None:
                raise kubelet.failure(f"exited with code {kubelet.exited()}")
            with contextlib.suppress(ApiError):
                node = api.get(f"/api/v1/nodes/{self.name}")
                conditions = node.get("status", {}).get("conditions", [])
                if any(c["type"] == "Ready" and c["status"] == "True"
                       and c.get("lastHeartbeatTime", "") >= started for c in conditions):
                    return
            time.sleep(0.5)
        raise kubelet.failure(f"did not make node {self.name} Ready in {timeout:.0f}s")

    # -- stop ----------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop the kubelet, end every container, stop containerd and undo the network."""
        stop_pidfile(self.root / "kubelet.pid", grace=10)
        self._end_containers()
        stop_pidfile(self.root / "containerd.pid", grace=10)
        self._unmount_all()
        self._remove_cgroups()
        rule_file = self.root / "dnat-rule.json"
        if rule_file.exists():
            rule = json.loads(rule_file.read_text())
            _run(["iptables", "-t", "nat", "-D", *rule], "", check=False)
            rule_file.unlink()
        _run(["ip", "link", "delete", self.bridge], "", check=False)
        # Removed only with nothing mounted below: a volume still mounted must not be emptied.
        mounted = Path("/proc/self/mounts").read_text()
        for folder in (self.run_dir, self.kubelet_root.parent):
            if f" {folder}/" not in mounted:
                shutil.rmtree(folder, ignore_errors=True)

    def _end_containers(self) -> None:
        """SIGKILL every process of the node's pod cgroups, then the node's containerd shims
        (found by the socket they serve this containerd on)."""
        pids: set[int] = set()
        for procs in (p for hierarchy in self._hierarchies()
                      for p in (hierarchy / self.cgroup_root).glob("**/cgroup.procs")):
            with contextlib.suppress(OSError, ValueError):
                pids |= {int(p) for p in procs.read_text().split()}
        marker = str(self.containerd_socket).encode()
        for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
            with contextlib.suppress(OSError):
                argv = cmdline.read_bytes().split(b"\0")
                if argv and argv[0].endswith(b"containerd-shim-runc-v2") and marker in argv:
                    pids.add(int(cmdline.parent.name))
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5 if pids else 0)

    def _unmount_all(self) -> None:
        """Unmount what the kubelet and containerd mounted under the node's folders (volumes,
        rootfs overlays, network namespaces), deepest first."""
        # The kubelet bind-mounts its root onto itself (shared propagation): that one too.
        roots = (str(self.root), str(self.run_dir), str(self.kubelet_root))
        mounts = []
        for line in Path("/proc/self/mounts").read_text().splitlines():
            target = line.split()[1].replace("\\040", " ")
            if target in roots or target.startswith(tuple(f"{r}/" for r in roots)):
                mounts.append(target)
        for target in sorted(set(mounts), key=len, reverse=True):
            subprocess.run(["umount", "-l", target], capture_output=True, check=False)


def stop_real_nodes(state: Path, binaries: Binaries) -> None:
    """Stop every real node of the cluster rooted at `state` (each recorded its block)."""
    for record in sorted((state / "realnode").glob("*/node.json")):
        data = json.loads(record.read_text())
        RealNode(data["name"], state, int(data["block"]), int(data.get("index", 0)),
                 binaries).stop()


def next_index(state: Path, name: str) -> int:
    """The index a real node named `name` has (a restart keeps it) or the lowest free one."""
    taken = {}
    for record in (state / "realnode").glob("*/node.json"):
        data = json.loads(record.read_text())
        taken[data["name"]] = int(data.get("index", 0))
    if name in taken:
        return taken[name]
    free = [i for i in range(MAX_NODES) if i not in taken.values()]
    if not free:
        raise RealNodeError(f"a cluster has at most {MAX_NODES} real nodes; remove one first")
    return free[0]


def _with_limits(component: Component) -> None:
    """Start a component with the open-file and process limits its containers inherit."""
    import resource

    def limits() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (NOFILE, NOFILE))
        resource.setrlimit(resource.RLIMIT_NPROC, (NPROC, NPROC))

    component.log.parent.mkdir(parents=True, exist_ok=True)
    with component.log.open("ab") as out:
        component.process = subprocess.Popen(
            list(component.argv), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=component.env, start_new_session=True,
            preexec_fn=limits)
    component.pidfile.write_text(str(component.process.pid))


__all__ = ["ComponentFailed", "RealNode", "RealNodeError", "missing_capabilities",
           "next_index", "stop_real_nodes"]

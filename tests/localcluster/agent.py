"""The local node agent: a kubelet for the nodes handed to it, whose pods run as local processes.

Started by the control plane as the component "agent":

    python -m localcluster.agent --state <state dir> --bin <venv bin folder>

It owns every node described in <state>/agent/nodes/<name>.json (nodes.write_agent_node), picks up
new and changed files as they appear, and runs each node as a NodeRuntime under that node's own
identity. SIGTERM stops it like a node shutting down: every pod process ends. A crash or SIGKILL
leaves the processes running; the next agent adopts them from their pid files.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from pathlib import Path

from localcluster.addresses import PodAddresses, cluster_block
from localcluster.kubeapi import Api, Credentials
from localcluster.noderuntime import AgentPaths, NodeRuntime
from localcluster.nodes import NodeSpec
from localcluster.pki import CertificateAuthority
from localcluster.toolchain import cache_root

SCAN_EVERY = 0.5


def log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"{stamp} {message}", flush=True)


class Agent:
    def __init__(self, state: Path, bin_dir: Path) -> None:
        self.state = state
        self.nodes_dir = state / "agent" / "nodes"
        self.paths = AgentPaths(state, (state / "server").read_text().strip(), bin_dir)
        self.ca = CertificateAuthority(state / "pki")
        self.addresses = PodAddresses(state / "agent" / "addresses",
                                      cluster_block(state, cache_root() / "address-blocks"))
        self.runtimes: dict[str, NodeRuntime] = {}
        self.stopping = threading.Event()

    def node_api(self, name: str) -> Api:
        pair = self.ca.issue(f"node-{name}", f"system:node:{name}", organization="system:nodes")
        return Api(Credentials(self.paths.server, self.ca.pair.cert, pair.cert, pair.key))

    def scan(self) -> None:
        self.nodes_dir.mkdir(parents=True, exist_ok=True)
        described = {path.stem for path in self.nodes_dir.glob("*.json")}
        for name in [n for n in self.runtimes if n not in described]:
            log(f"{name}: node removed, ending its pods")
            self.runtimes.pop(name).stop()
        for path in sorted(self.nodes_dir.glob("*.json")):
            try:
                spec = NodeSpec.from_json(path.read_text())
            except (OSError, ValueError, KeyError) as error:
                log(f"{path.name}: unreadable node description: {error}")
                continue
            runtime = self.runtimes.get(spec.name)
            if runtime is None:
                log(f"{spec.name}: starting node ({spec.address})")
                serving = self.ca.issue(f"kubelet-{spec.name}-{spec.address}",
                                        f"system:node:{spec.name}", organization="system:nodes",
                                        server=True, ips=(spec.address,))
                runtime = NodeRuntime(spec, self.node_api(spec.name), self.paths, self.addresses,
                                      log, serving=serving)
                self.runtimes[spec.name] = runtime
                runtime.start()
            elif runtime.spec != spec:
                log(f"{spec.name}: node description changed")
                runtime.update_spec(spec)

    def run(self) -> None:
        log(f"agent for {self.paths.server}, nodes from {self.nodes_dir}")
        while not self.stopping.is_set():
            self.scan()
            self.stopping.wait(SCAN_EVERY)
        log("stopping: ending every pod's processes")
        for runtime in self.runtimes.values():
            runtime.stop()
        log("stopped")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m localcluster.agent")
    parser.add_argument("--state", type=Path, required=True, help="the cluster's state folder")
    parser.add_argument("--bin", type=Path, default=Path(sys.executable).parent,
                        help="folder put first on every pod's PATH (the venv's bin)")
    args = parser.parse_args(argv)
    agent = Agent(args.state, args.bin)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: agent.stopping.set())
    agent.run()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""A second, private cluster for what the session's cluster must not go through: a port clash at
start, an agent crash (its pods' processes are adopted), a crashed component, and stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from localcluster import controlplane
from localcluster.cluster import LocalCluster
from localcluster.nodes import CpuNode
from localcluster.processes import ComponentFailed, free_port


def processes_under(state: Path) -> list[str]:
    """Command lines of live processes that mention the state folder."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if str(state) in cmdline and stat[0] != "Z":
            found.append(f"{proc.name}: {cmdline}")
    return found


@pytest.fixture
def private_cluster(tmp_path: Path,
                    monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalCluster, int]]:
    """A cluster whose API server's first port is already taken; yields it and that port."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    clash = taken.getsockname()[1]
    # etcd's client and peer ports, then the API server's first try
    ports = iter([free_port(), free_port(), clash])

    def next_port(host: str = "127.0.0.1") -> int:
        return next(ports, None) or free_port(host)

    monkeypatch.setattr(controlplane, "free_port", next_port)
    local = LocalCluster(tmp_path / "state")
    try:
        local.start([CpuNode("cpu-0")])
        monkeypatch.undo()
        yield local, clash
    finally:
        local.stop()
        taken.close()


def test_private_cluster_survives_clash_crash_and_stops_clean(
        private_cluster: tuple[LocalCluster, int]) -> None:
    local, clash = private_cluster
    server = (local.state / "server").read_text()
    assert not server.endswith(f":{clash}")
    assert "address already in use" in (local.logs_dir / "kube-apiserver.log").read_text()

    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "steady"},
           "spec": {"nodeName": "cpu-0", "containers": [{
               "name": "main", "image": "python:3.11",
               "command": ["python", "-c", "import time\nwhile True: time.sleep(0.1)"]}]}}
    local.kubectl("apply", "-f", "-", input=json.dumps(pod))
    shims = local.state / "agent" / "pods" / "cpu-0"
    deadline = time.monotonic() + 60
    while not list(shims.glob("*/containers/main/shim.json")) and time.monotonic() < deadline:
        time.sleep(0.2)
    shim = json.loads(next(shims.glob("*/containers/main/shim.json")).read_text())

    command = int(Path(f"/proc/{shim['pid']}/task/{shim['pid']}/children").read_text().split()[0])

    local.stop_agent(crash=True)  # the process must live on and be adopted
    local.start_agent()
    time.sleep(3)
    os.kill(command, 0)
    status = json.loads(local.kubectl("get", "pod", "steady", "-o", "json").stdout)["status"]
    assert status["phase"] == "Running"
    assert status["containerStatuses"][0]["restartCount"] == 0

    scheduler = int((local.state / "kube-scheduler.pid").read_text())
    os.kill(scheduler, signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(ComponentFailed, match="kube-scheduler is not running; last lines of"):
        local.check_alive()

    local.stop()
    assert processes_under(local.state) == []
    assert not Path(f"/proc/{command}").exists()


def test_a_pod_deleted_while_the_agent_was_down_is_cleaned_up(cluster: LocalCluster,
                                                              namespace: str, apply: Any,
                                                              wait: Any, get: Any,
                                                              python_pod: Any) -> None:
    apply(namespace, [python_pod("orphan", "import time; time.sleep(600)", nodeName="gpu-l4-0")])
    pod = wait(lambda: (p := get("pod", "orphan", namespace))
               and p["status"].get("phase") == "Running" and p, "the pod to run")
    folder = cluster.state / "agent" / "pods" / "gpu-l4-0" / pod["metadata"]["uid"]
    shim = json.loads((folder / "containers" / "main" / "shim.json").read_text())

    cluster.stop_agent(crash=True)
    # With no agent to finish it, a graceful delete would wait; force it as an admin would.
    cluster.kubectl("delete", "pod", "orphan", "-n", namespace, "--grace-period=0", "--force")
    assert Path(f"/proc/{shim['pid']}").exists()
    cluster.start_agent()
    wait(lambda: not folder.exists(), "the agent to sweep the orphan's folder")
    wait(lambda: not Path(f"/proc/{shim['pid']}").exists(), "the orphan's process to end")

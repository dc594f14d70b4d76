"""Fixtures for proving the local control plane is real: waiting on objects, reading them as
JSON, applying manifests, and simulated nodes that are removed again after the test."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from localcluster.cluster import LocalCluster
from localcluster.nodes import CpuNode, GpuNode

Object = dict[str, Any]
Wait = Callable[..., Any]


@pytest.fixture
def wait(cluster: LocalCluster) -> Wait:
    """`wait(probe, what, timeout=60)`: poll `probe()` until it returns something truthy; on
    timeout fail with `what`, the last value and the agent's log tail."""

    def run(probe: Callable[[], Any], what: str, timeout: float = 60.0) -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            last = probe()
            if last:
                return last
            cluster.check_alive()
            time.sleep(0.2)
        agent_log = (cluster.logs_dir / "agent.log").read_text(errors="replace")[-3000:]
        pytest.fail(f"timed out after {timeout:.0f}s waiting for {what}; last: {last!r}\n"
                    f"agent log:\n{agent_log}")

    return run


@pytest.fixture
def get(cluster: LocalCluster) -> Callable[..., Object | None]:
    """`get(kind, name, namespace=None)` -> the object as JSON, or None if absent."""

    def run(kind: str, name: str, namespace: str | None = None) -> Object | None:
        args = ["get", kind, name, "-o", "json", *(["-n", namespace] if namespace else [])]
        done = cluster.kubectl(*args, check=False)
        if done.returncode != 0:
            if "NotFound" in done.stderr:
                return None
            raise AssertionError(done.stderr)
        found: Object = json.loads(done.stdout)
        return found

    return run


@pytest.fixture
def apply(cluster: LocalCluster) -> Callable[[str, list[Object]], None]:
    """`apply(namespace, objects)`: kubectl apply of a list of objects."""

    def run(namespace: str, objects: list[Object]) -> None:
        document = {"apiVersion": "v1", "kind": "List", "items": objects}
        cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))

    return run


@pytest.fixture
def extra_nodes(cluster: LocalCluster) -> Iterator[Callable[..., None]]:
    """`extra_nodes(*nodes)`: add simulated nodes for one test; removed afterwards so later
    tests (and the operator's) see only the session's default GPU inventory."""
    added: list[str] = []

    def add(*nodes: GpuNode | CpuNode) -> None:
        added.extend(node.name for node in nodes)
        cluster.add_nodes(*nodes)

    yield add
    cluster.remove_nodes(*added)


@pytest.fixture
def python_pod() -> Callable[..., Object]:
    """`python_pod(name, code, container={...}, **pod_spec)`: a pod whose one container runs
    `python -c code` (the venv's python, found on the pod's PATH by the node agent). Paths in
    volumes go in as args or env (which the agent rewrites), never inside `code`."""

    def build(name: str, code: str, container: Object | None = None, **spec: Any) -> Object:
        main = {"name": "main", "image": "python:3.11", "command": ["python", "-c", code],
                **(container or {})}
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"restartPolicy": "Never", "containers": [main], **spec}}

    return build

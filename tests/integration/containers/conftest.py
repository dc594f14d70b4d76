"""A private local cluster whose one node is run by a real kubelet (containerd, runc, CNI), with
the images of `make images` loaded, and a namespace enforcing the restricted Pod Security
Standard whose engine store is a static hostPath PersistentVolume."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localcluster.cluster import LocalCluster
from localcluster.images import INFERENCE, OPERATOR, ImageError, image_reference
from localcluster.nodes import l4
from localcluster.processes import ComponentFailed
from localcluster.realnode import RealNode, RealNodeError, missing_capabilities
from localcluster.toolchain import ToolchainError

# An L4 as GPU Feature Discovery labels one, with two `nvidia.com/gpu` advertised as a device
# plugin would: the operator's Jobs and pools for that class land on it and run the CPU backend.
NODE = "real-l4-0"
# Only the tests of this folder run here: their pods tolerate it, nothing else lands by chance.
TAINT = {"key": "classroom-operator.io/real-node", "value": "true", "effect": "NoSchedule"}
TOLERATION = {"key": TAINT["key"], "operator": "Equal", "value": "true", "effect": "NoSchedule"}
IMAGE_TOOLS = ("buildah", "podman", "mmdebstrap")
APP_UID = 65532


def _unavailable() -> str | None:
    """Why this machine cannot run these tests, or None. Only a missing capability skips."""
    missing = missing_capabilities()
    missing += [f"{tool} (apt-get install buildah podman mmdebstrap)"
                for tool in IMAGE_TOOLS if shutil.which(tool) is None]
    return "; ".join(missing) or None


@dataclass
class ContainerCluster:
    cluster: LocalCluster
    node: RealNode

    def kubectl(self, *args: str, input: str | None = None) -> str:
        return self.cluster.kubectl(*args, input=input).stdout

    def apply(self, *documents: dict[str, Any]) -> None:
        self.kubectl("apply", "-f", "-",
                     input=json.dumps({"apiVersion": "v1", "kind": "List",
                                       "items": list(documents)}))

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(self.kubectl("get", kind, name, "-n", namespace,
                                                         "-o", "json"))
        return result

    def wait(self, what: str, check: Any, timeout: float = 180.0,
             namespace: str | None = None) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = check()
            if result:
                return result
            time.sleep(1)
        events = self.kubectl("get", "events", "-A", "--sort-by=.lastTimestamp") if namespace \
            is None else self.kubectl("get", "events", "-n", namespace,
                                      "--sort-by=.lastTimestamp")
        pytest.fail(f"gave up waiting for {what} after {timeout:.0f}s; events:\n{events[-4000:]}")

    def container_spec(self, namespace: str, pod: str, container: str) -> dict[str, Any]:
        """The OCI runtime spec containerd gave runc for a running container."""
        status = self.get("pod", pod, namespace)["status"]
        [found] = [c for c in status["containerStatuses"] if c["name"] == container]
        container_id = found["containerID"].removeprefix("containerd://")
        info: dict[str, Any] = json.loads(self.node.ctr("containers", "info", container_id))
        spec: dict[str, Any] = info["Spec"]
        return spec


@pytest.fixture(scope="session")
def containers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ContainerCluster]:
    why = _unavailable()
    if why:
        pytest.skip(f"this machine cannot run containers under a real kubelet: it lacks {why}")
    local = LocalCluster(tmp_path_factory.mktemp("containers"))
    try:
        local.start(nodes=[])
        node = local.add_real_node(l4(NODE, count=2, taints=(TAINT,)))
    except (ComponentFailed, ToolchainError, RealNodeError, ImageError) as failure:
        local.stop()
        pytest.fail(f"the cluster with a real node did not start: {failure}", pytrace=False)
    try:
        yield ContainerCluster(local, node)
    finally:
        local.stop()


@dataclass(frozen=True)
class Restricted:
    """A namespace enforcing `restricted`, with the engine store claim bound to a hostPath PV
    whose folder on this machine is `store`."""

    name: str
    claim: str
    store: Path


@pytest.fixture
def restricted(containers: ContainerCluster, tmp_path_factory: pytest.TempPathFactory
               ) -> Iterator[Restricted]:
    name = f"restricted-{secrets.token_hex(3)}"
    store = tmp_path_factory.mktemp("engine-store")
    # The pods run as 65532 and the PV is a plain folder: no fsGroup applies to hostPath.
    os.chown(store, APP_UID, APP_UID)
    store.chmod(0o755)
    containers.kubectl("create", "namespace", name)
    containers.kubectl("label", "namespace", name,
                       "pod-security.kubernetes.io/enforce=restricted",
                       "pod-security.kubernetes.io/enforce-version=latest")
    claim = "engine-store"
    containers.apply(
        {"apiVersion": "v1", "kind": "PersistentVolume",
         "metadata": {"name": f"{name}-engines"},
         "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                  "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "static",
                  "claimRef": {"namespace": name, "name": claim},
                  "hostPath": {"path": str(store), "type": "Directory"}}},
        {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
         "metadata": {"name": claim, "namespace": name},
         "spec": {"accessModes": ["ReadWriteMany"], "storageClassName": "static",
                  "volumeName": f"{name}-engines", "resources": {"requests": {"storage": "1Gi"}}}},
    )
    yield Restricted(name, claim, store)
    containers.kubectl("delete", "namespace", name, "--wait=false")
    containers.kubectl("delete", "pv", f"{name}-engines", "--wait=false")


@pytest.fixture(scope="session")
def operator_image() -> str:
    return image_reference(OPERATOR)


@pytest.fixture(scope="session")
def inference_image() -> str:
    return image_reference(INFERENCE)

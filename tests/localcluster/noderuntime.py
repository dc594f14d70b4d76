"""One agent node, acting as its kubelet: registers the Node, keeps it Ready (status and Lease
heartbeats), watches the pods bound to it and gives each a PodWorker.

It talks to the API as `system:node:<name>` in group `system:nodes`, a client certificate from the
cluster CA: the identity a kubelet has, so the Node authorizer and NodeRestriction admit exactly
what a kubelet may do (its own Node and Lease, its pods' status, the Secrets, ConfigMaps, claims
and service-account tokens of pods bound to it) and a bug here cannot reach further.
"""

from __future__ import annotations

import datetime
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import urllib3

from localcluster.addresses import PodAddresses
from localcluster.containers import kill_leftovers
from localcluster.kubeapi import MERGE, Api, ApiError, kubeconfig_text
from localcluster.kubeletlogs import KubeletLogServer
from localcluster.nodes import NodeSpec
from localcluster.pki import CertPair
from localcluster.podworker import PodWorker
from localcluster.volumes import VolumeError, config_map_bytes, decode_secret, remove_tree

Object = dict[str, Any]

LEASE_SECONDS = 40
LEASE_RENEW = 10.0
STATUS_EVERY = 30.0
KUBELET_VERSION = "v1.36.3"


def _micro_now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass
class AgentPaths:
    state: Path
    server: str
    bin_dir: Path

    @property
    def ca_cert(self) -> Path:
        return self.state / "pki" / "ca.crt"

    @property
    def logs_dir(self) -> Path:
        return self.state / "logs" / "pods"

    def pods_dir(self, node: str) -> Path:
        return self.state / "agent" / "pods" / node


class NodeRuntime:
    def __init__(self, spec: NodeSpec, api: Api, paths: AgentPaths, addresses: PodAddresses,
                 log: Callable[[str], None], serving: CertPair | None = None) -> None:
        self.spec, self.api, self.paths, self.addresses = spec, api, paths, addresses
        self.name, self.address = spec.name, spec.address
        self.pods_dir = paths.pods_dir(spec.name)
        self.logs_dir = paths.logs_dir
        self.bin_dir = paths.bin_dir
        self._log = log
        self._stop = threading.Event()
        self._workers: dict[str, PodWorker] = {}
        self._threads: list[threading.Thread] = []
        # Container logs for kube-apiserver (kubectl logs), with the node's serving certificate.
        self._log_server = KubeletLogServer(spec.address, serving, paths.ca_cert,
                                            paths.logs_dir) if serving is not None else None

    def log(self, message: str) -> None:
        self._log(f"{self.name}: {message}")

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        self.pods_dir.mkdir(parents=True, exist_ok=True)
        if self._log_server is not None:
            self._log_server.start()
        for target in (self._heartbeat, self._pods):
            thread = threading.Thread(target=self._forever, args=(target,), daemon=True,
                                      name=f"{self.name} {target.__name__}")
            thread.start()
            self._threads.append(thread)

    def update_spec(self, spec: NodeSpec) -> None:
        self.spec = spec
        self._post_status()

    def stop(self) -> None:
        """The node shuts down: its pods' processes end; the API objects stay."""
        self._stop.set()
        if self._log_server is not None:
            self._log_server.stop()
        for worker in list(self._workers.values()):
            worker.shutdown()
        for worker in list(self._workers.values()):
            worker.join(timeout=15)

    def _forever(self, target: Callable[[], None]) -> None:
        while not self._stop.is_set():
            try:
                target()
            except (ApiError, urllib3.exceptions.HTTPError, OSError, ValueError) as error:
                self.log(f"{target.__name__}: {error}; retrying")
            except Exception:
                self.log(f"{target.__name__}: {traceback.format_exc()}")
            self._stop.wait(1.0)

    # -- the Node and its heartbeats --------------------------------------------------------

    def _register(self) -> str:
        try:
            node = self.api.create("/api/v1/nodes", self.spec.manifest())
        except ApiError as error:
            if error.status != 409:
                raise
            node = self.api.get(f"/api/v1/nodes/{self.name}")
        return str(node["metadata"]["uid"])

    def _post_status(self) -> None:
        now = _now()
        conditions = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory",
             "kubelet has sufficient memory available"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID",
             "kubelet has sufficient PID available"),
            ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
        ]
        status: Object = {
            "capacity": self.spec.capacity, "allocatable": self.spec.capacity,
            "conditions": [{"type": t, "status": s, "reason": r, "message": m,
                            "lastHeartbeatTime": now, "lastTransitionTime": now}
                           for t, s, r, m in conditions],
            "addresses": [{"type": "InternalIP", "address": self.address},
                          {"type": "Hostname", "address": self.name}],
            "nodeInfo": {
                "kubeletVersion": KUBELET_VERSION, "containerRuntimeVersion": "localcluster://1",
                "operatingSystem": "linux", "architecture": "amd64", "osImage": "local processes",
                "kernelVersion": "", "machineID": "", "systemUUID": "", "bootID": "",
                "kubeProxyVersion": "",
            },
            "daemonEndpoints": {"kubeletEndpoint": {
                "Port": self._log_server.port if self._log_server is not None else 0}},
        }
        node = self.api.get(f"/api/v1/nodes/{self.name}")
        # A merge keeps map keys the patch leaves out: resources no longer there are nulled.
        for field in ("capacity", "allocatable"):
            gone = set(node.get("status", {}).get(field, {})) - set(self.spec.capacity)
            status[field] = {**self.spec.capacity, **dict.fromkeys(gone)}
        before = {c["type"]: c for c in node.get("status", {}).get("conditions", [])}
        for condition in status["conditions"]:
            old = before.get(condition["type"])
            if old and old.get("status") == condition["status"]:
                condition["lastTransitionTime"] = old["lastTransitionTime"]
        self.api.patch(f"/api/v1/nodes/{self.name}/status", {"status": status})

    def _heartbeat(self) -> None:
        uid = self._register()
        self._post_status()
        lease_path = f"/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{self.name}"
        last_status = time.monotonic()
        while not self._stop.is_set():
            renewed = {"spec": {"holderIdentity": self.name, "renewTime": _micro_now(),
                                "leaseDurationSeconds": LEASE_SECONDS}}
            try:
                self.api.patch(lease_path, renewed, content_type=MERGE)
            except ApiError as error:
                if error.status != 404:
                    raise
                self.api.create("/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases", {
                    "metadata": {"name": self.name, "namespace": "kube-node-lease",
                                 "ownerReferences": [{"apiVersion": "v1", "kind": "Node",
                                                      "name": self.name, "uid": uid}]},
                    **renewed,
                })
            if time.monotonic() - last_status >= STATUS_EVERY:
                self._post_status()
                last_status = time.monotonic()
            self._stop.wait(LEASE_RENEW)

    # -- pods -------------------------------------------------------------------------------

    def _pods(self) -> None:
        selector = f"spec.nodeName={self.name}"
        listing = self.api.get("/api/v1/pods", fieldSelector=selector)
        live = {pod["metadata"]["uid"] for pod in listing.get("items", [])}
        for pod in listing.get("items", []):
            self._observe(pod)
        for uid, worker in list(self._workers.items()):
            if uid not in live:
                worker.gone()
                del self._workers[uid]
        self._sweep_orphans(live)
        version = listing["metadata"]["resourceVersion"]
        while not self._stop.is_set():
            for kind, pod in self.api.watch("/api/v1/pods", version, fieldSelector=selector,
                                            timeout_seconds=60):
                version = pod["metadata"].get("resourceVersion", version)
                if kind == "BOOKMARK":
                    continue
                uid = pod["metadata"]["uid"]
                if kind == "DELETED":
                    if uid in self._workers:
                        self._workers.pop(uid).gone()
                else:
                    self._observe(pod)
                if self._stop.is_set():
                    return

    def _observe(self, pod: Object) -> None:
        uid = pod["metadata"]["uid"]
        worker = self._workers.get(uid)
        if worker is not None:
            worker.update(pod)
            return
        worker = PodWorker(self, pod)
        self._workers[uid] = worker
        worker.start()

    def _sweep_orphans(self, live: set[str]) -> None:
        """Pods that were deleted while the agent was away: end their processes, free their
        address, remove their folders."""
        for folder in self.pods_dir.iterdir():
            if folder.name in live:
                continue
            kill_leftovers(folder)
            self.addresses.release_uid(folder.name)
            remove_tree(folder)

    # -- what pods need from their node (podworker.NodeServices) ----------------------------

    def claim_address(self, uid: str, wanted: str | None) -> str:
        return self.addresses.claim(uid, wanted)

    def release_address(self, uid: str, ip: str) -> None:
        self.addresses.release(uid, ip)

    def config_map(self, namespace: str, name: str) -> dict[str, str] | None:
        data = self.config_map_files(namespace, name)
        return None if data is None else {k: v.decode(errors="replace") for k, v in data.items()}

    def secret(self, namespace: str, name: str) -> dict[str, str] | None:
        data = self.secret_files(namespace, name)
        return None if data is None else {k: v.decode(errors="replace") for k, v in data.items()}

    def config_map_files(self, namespace: str, name: str) -> dict[str, bytes] | None:
        found = self.api.get_or_none(f"/api/v1/namespaces/{namespace}/configmaps/{name}")
        return None if found is None else config_map_bytes(found)

    def secret_files(self, namespace: str, name: str) -> dict[str, bytes] | None:
        found = self.api.get_or_none(f"/api/v1/namespaces/{namespace}/secrets/{name}")
        return None if found is None else decode_secret(found)

    def service_account_token(self, pod: Object, audience: str | None,
                              expiration_seconds: int) -> tuple[str, float]:
        meta = pod["metadata"]
        account = pod["spec"].get("serviceAccountName") or "default"
        spec: Object = {"expirationSeconds": expiration_seconds, "boundObjectRef": {
            "apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}
        if audience:
            spec["audiences"] = [audience]
        try:
            answer = self.api.create(
                f"/api/v1/namespaces/{meta['namespace']}/serviceaccounts/{account}/token",
                {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": spec},
            )
        except ApiError as error:
            raise VolumeError(f"service account token for {account}: {error.message}") from error
        expires = datetime.datetime.fromisoformat(
            answer["status"]["expirationTimestamp"].replace("Z", "+00:00")).timestamp()
        return str(answer["status"]["token"]), expires

    def claim_path(self, namespace: str, claim: str) -> Path:
        found = self.api.get_or_none(
            f"/api/v1/namespaces/{namespace}/persistentvolumeclaims/{claim}")
        if found is None:
            raise VolumeError(f'persistentvolumeclaim "{claim}" not found')
        volume = found.get("spec", {}).get("volumeName")
        if found.get("status", {}).get("phase") != "Bound" or not volume:
            raise VolumeError(f'persistentvolumeclaim "{claim}" is not bound yet')
        bound = self.api.get(f"/api/v1/persistentvolumes/{volume}")
        host_path = bound["spec"].get("hostPath", {}).get("path")
        if not host_path:
            raise VolumeError(f"persistentvolume {volume}: only hostPath volumes are local")
        path = Path(host_path)
        path.mkdir(parents=True, exist_ok=True)
        return path

    def pod_kubeconfig(self, namespace: str, token_folder: Path) -> str:
        return kubeconfig_text(self.paths.server, token_folder / "ca.crt", "pod",
                               token_file=token_folder / "token", namespace=namespace)

    def event(self, pod: Object, reason: str, message: str, *, warning: bool = False,
              container: str | None = None) -> None:
        meta = pod["metadata"]
        involved: Object = {"apiVersion": "v1", "kind": "Pod", "name": meta["name"],
                            "namespace": meta["namespace"], "uid": meta["uid"]}
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        now = _now()
        try:
            self.api.create(f"/api/v1/namespaces/{meta['namespace']}/events", {
                "metadata": {"generateName": f"{meta['name']}.", "namespace": meta["namespace"]},
                "involvedObject": involved, "reason": reason, "message": message[:1024],
                "type": "Warning" if warning else "Normal", "count": 1,
                "firstTimestamp": now, "lastTimestamp": now,
                "source": {"component": "kubelet", "host": self.name},
                "reportingComponent": "kubelet", "reportingInstance": self.name,
            })
        except (ApiError, urllib3.exceptions.HTTPError) as error:
            if "being terminated" not in str(error):  # the namespace goes, and its events
                self.log(f"event {reason} for {meta['namespace']}/{meta['name']}: {error}")

"""The operator as a real process against the local cluster, for integration tests and the scale
benchmark: `classroom-operator run` with its environment, its namespace (engine store PVC, CRDs),
ClassroomModel manifests, and a watch that records every build Job ever created.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api, ApiError
from localcluster.nodes import KWOK_TAINT

ROOT = Path(__file__).resolve().parents[2]
CRDS = ROOT / "crds"
MODELS = "/apis/classroom-operator.io/v1alpha1/namespaces/{namespace}/classroommodels"
JOBS = "/apis/batch/v1/namespaces/{namespace}/jobs"
POOL_LABEL = "classroom-test/pool"
CLAIM = "classroom-engines"
SHA = "5" * 64

Object = dict[str, Any]


def wait_for(probe: Callable[[], Any], what: str, timeout: float = 60.0,
             every: float = 0.1, show: Callable[[], Any] | None = None) -> Any:
    """Poll until `probe()` is truthy; raise AssertionError naming `what` and the last value
    (or what `show()` gives then)."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = probe()
        if last:
            return last
        time.sleep(every)
    seen = show() if show is not None else last
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; last: {seen!r}")


def prepare_namespace(cluster: LocalCluster, namespace: str) -> None:
    """CRDs applied and the engine store PVC in the operator's namespace."""
    cluster.kubectl("apply", "-f", str(CRDS))
    for crd in ("classroommodels.classroom-operator.io", "classrooms.classroom-operator.io"):
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{crd}", "--timeout=60s")
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": CLAIM, "namespace": namespace},
             "spec": {"accessModes": ["ReadWriteMany"],
                      "resources": {"requests": {"storage": "1Gi"}}}}
    cluster.kubectl("apply", "-f", "-", input=json.dumps(claim))


def model_manifest(name: str, pool: str, *, sha256: str = SHA,
                   uri: str = "https://models.example.org/attention.onnx",
                   selector: Mapping[str, str] | None = None,
                   **spec: Any) -> Object:
    """A ClassroomModel whose engines go to the nodes labelled with `pool` (kwok ones too)."""
    model = {"uri": uri, "sha256": sha256, "input": {"shape": [3, 48, 48]},
             "outputs": {"attention": "attention_score", "emotion": "emotion_probs",
                         "engagement": "engagement_score"}}
    body: dict[str, Any] = {
        "model": model,
        "engine": {"precision": "fp32", "batch": {"min": 1, "opt": 8, "max": 16}},
        "validation": {"samples": 24},
        "serving": {"nodeSelector": {POOL_LABEL: pool, **(selector or {})},
                    "tolerations": [{"key": KWOK_TAINT["key"], "operator": "Exists"}]},
    }
    for key, value in spec.items():
        body[key] = {**body.get(key, {}), **value} if isinstance(value, dict) else value
    return {"apiVersion": "classroom-operator.io/v1alpha1", "kind": "ClassroomModel",
            "metadata": {"name": name}, "spec": body}


@dataclass
class OperatorProcess:
    """`classroom-operator run` as a child process, with the chart's environment."""

    cluster: LocalCluster
    namespace: str
    logs: Path
    env: Mapping[str, str] = field(default_factory=dict)
    pod_ip: str = field(default_factory=lambda: f"127.77.{secrets.randbelow(250) + 1}."
                                                f"{secrets.randbelow(250) + 1}")
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def environment(self) -> dict[str, str]:
        return {
            **os.environ,
            "KUBECONFIG": str(self.cluster.kubeconfig),
            "CLASSROOM_OPERATOR_NAMESPACE": self.namespace,
            "CLASSROOM_BUILDER_IMAGE": "classroom-inference:local",
            "CLASSROOM_TENSORRT_VERSION": "10.13.3",
            "CLASSROOM_GPU_BACKEND": "onnxruntime-cpu",
            "CLASSROOM_ENGINE_STORE_CLAIM": CLAIM,
            "CLASSROOM_RESYNC_SECONDS": "10",
            "POD_IP": self.pod_ip,
            **self.env,
        }

    def start(self) -> None:
        self.runs += 1
        self.logs.parent.mkdir(parents=True, exist_ok=True)
        with self.logs.open("ab") as out:
            out.write(f"--- run {self.runs}\n".encode())
            out.flush()
            self.process = subprocess.Popen(
                [sys.executable, "-m", "classroom_operator", "run"], stdout=out,
                stderr=subprocess.STDOUT, env=self.environment(), cwd=ROOT)
        wait_for(self.healthy, f"the operator's health endpoint ({self.logs})", timeout=60)

    def healthy(self) -> bool:
        if self.process is None or self.process.poll() is not None:
            raise AssertionError(f"the operator exited; log:\n{self.log_tail()}")
        try:
            with urllib.request.urlopen(f"http://{self.pod_ip}:8080/healthz", timeout=1) as r:
                return bool(r.status == 200)
        except OSError:
            return False

    def metrics(self) -> dict[str, float]:
        """The operator's Prometheus samples by `name{labels}`."""
        with urllib.request.urlopen(f"http://{self.pod_ip}:8081/metrics", timeout=5) as r:
            text = r.read().decode()
        samples = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                samples[name] = float(value)
        return samples

    def kill(self) -> None:
        """SIGKILL: the operator dies wherever it is, as on an OOM kill or a node loss."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

    def log_tail(self, lines: int = 40) -> str:
        if not self.logs.exists():
            return ""
        return "\n".join(self.logs.read_text(errors="replace").splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """CPU time the running operator has used so far (user + system): unlike wall-clock
        figures, it does not grow when other work shares the machine."""
        assert self.process is not None
        fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def peak_rss_bytes(self) -> int:
        """VmHWM of the running operator: its peak resident memory so far."""
        assert self.process is not None
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        assert match is not None
        return int(match.group(1)) * 1024


def _stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


class OperatorFleet:
    """Operator processes for one namespace. `close` deletes every ClassroomModel there while
    an operator still runs (their finalizers), then stops them all."""

    def __init__(self, cluster: LocalCluster, namespace: str, api: Api, logs: Path) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.api = api
        self.logs = logs
        self.started: list[OperatorProcess] = []

    def start(self, **env: str) -> OperatorProcess:
        process = OperatorProcess(self.cluster, self.namespace,
                                  self.logs / f"operator-{len(self.started)}.log", env=env)
        process.start()
        self.started.append(process)
        return process

    def close(self, timeout: float = 60.0, *, namespace_too: bool = False) -> None:
        """With `namespace_too`, the namespace goes as well (the fastest way to delete
        thousands of models: the API server's namespace controller deletes them at once)."""
        running = [p for p in self.started if p.process is not None and p.process.poll() is None]
        if not running and self.started:
            self.started[-1].start()
        try:
            delete_models(self.cluster, self.api, self.namespace, timeout=timeout,
                          namespace_too=namespace_too)
        finally:
            for process in self.started:
                process.stop()


class JobRecorder:
    """Every build Job created in a namespace, by name, with each uid it ever had (a watch)."""

    def __init__(self, api: Api, namespace: str) -> None:
        self.api = api
        self.namespace = namespace
        self.uids: dict[str, list[str]] = {}
        self.requested_by: dict[str, str] = {}
        # Per uid, from the API's own timestamps (second resolution): created, and failed.
        self.created: dict[str, datetime] = {}
        self.failed: dict[str, datetime] = {}
        self.created_at: dict[str, float] = {}
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._version = ""
        self._relist()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _record(self, job: Object) -> None:
        name, uid = job["metadata"]["name"], job["metadata"]["uid"]
        annotations = job["metadata"].get("annotations") or {}
        with self._lock:
            self.requested_by.setdefault(
                name, annotations.get("classroom-operator.io/requested-by", ""))
            uids = self.uids.setdefault(name, [])
            if uid not in uids:
                uids.append(uid)
                self.created_at.setdefault(name, time.monotonic())
                self.created[uid] = _stamp(job["metadata"]["creationTimestamp"])
            # When the Job controller decided the failure (FailureTarget, then Failed once its
            # pods are gone): the operator's backoff counts from the first of them, as must we.
            for item in (job.get("status") or {}).get("conditions") or []:
                if item["type"] in ("Failed", "FailureTarget") and item["status"] == "True":
                    stamp = _stamp(item["lastTransitionTime"])
                    self.failed[uid] = min(stamp, self.failed.get(uid, stamp))

    def _relist(self) -> None:
        listing = self.api.get(JOBS.format(namespace=self.namespace))
        for job in listing["items"]:
            self._record(job)
        self._version = listing["metadata"]["resourceVersion"]

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                for kind, job in self.api.watch(JOBS.format(namespace=self.namespace),
                                                self._version, timeout_seconds=5):
                    self._version = job["metadata"].get("resourceVersion", self._version)
                    if kind in ("ADDED", "MODIFIED"):
                        self._record(job)
                    if self._stop.is_set():
                        return
            except Exception:  # any broken watch: list again, then watch on
                time.sleep(0.2)
                with contextlib.suppress(Exception):
                    self._relist()

    def builds(self) -> dict[str, list[str]]:
        """Build Jobs asked for by models of this namespace (the operator is cluster-wide: a
        model left in another namespace by someone else must not count here)."""
        with self._lock:
            return {name: list(uids) for name, uids in self.uids.items()
                    if name.startswith("engine-build-")
                    and self.requested_by.get(name, "").startswith(f"{self.namespace}/")}

    def close(self) -> None:
        self._stop.set()


def jobs(api: Api, namespace: str, prefix: str = "engine-build-") -> list[Object]:
    return [job for job in api.get(JOBS.format(namespace=namespace))["items"]
            if job["metadata"]["name"].startswith(prefix)]


def models(api: Api, namespace: str) -> list[Object]:
    items: list[Object] = api.get(MODELS.format(namespace=namespace))["items"]
    return items


def delete_models(cluster: LocalCluster, api: Api, namespace: str, *, timeout: float = 60.0,
                  namespace_too: bool = False) -> None:
    """Delete a namespace's ClassroomModels (with `namespace_too`, the namespace itself) while
    an operator still runs to release them (their finalizers), and wait until they are gone.
    Whatever is left after `timeout` loses its finalizers, so no namespace stays stuck."""
    what = ("namespace", namespace) if namespace_too else ("classroommodels", "--all", "-n",
                                                            namespace)
    cluster.kubectl("delete", *what, "--wait=false", check=False)
    try:
        wait_for(lambda: not models(api, namespace), "the test's ClassroomModels to be deleted",
                 timeout=timeout, every=1.0)
    finally:
        for item in models(api, namespace):
            with contextlib.suppress(ApiError):  # it may go on its own meanwhile
                api.patch(f"{MODELS.format(namespace=namespace)}/{item['metadata']['name']}",
                          {"metadata": {"finalizers": None}},
                          content_type="application/merge-patch+json")


def running_operator(cluster: LocalCluster, api: Api, namespace: str, logs: Path,
                     **env: str) -> Iterator[OperatorProcess]:
    """A fixture's body: `classroom-operator run` for `namespace` with `env`; at the end the
    namespace's ClassroomModels are deleted while it still runs (their finalizers), then it
    stops."""
    process = OperatorProcess(cluster, namespace, logs / "operator.log", env=env)
    process.start()
    yield process
    try:
        delete_models(cluster, api, namespace)
    finally:
        process.stop()


def model(api: Api, namespace: str, name: str) -> Object | None:
    return api.get_or_none(f"{MODELS.format(namespace=namespace)}/{name}")


def apply(cluster: LocalCluster, namespace: str, objects: Iterable[Object]) -> None:
    document = {"apiVersion": "v1", "kind": "List", "items": list(objects)}
    cluster.kubectl("apply", "-n", namespace, "-f", "-", input=json.dumps(document))


def condition(obj: Object | None, kind: str) -> Object:
    for item in ((obj or {}).get("status") or {}).get("conditions") or []:
        if item.get("type") == kind:
            found: Object = item
            return found
    return {}


def converged(obj: Object | None) -> bool:
    """The model's status describes its current generation."""
    if obj is None:
        return False
    status = obj.get("status") or {}
    return bool(status.get("observedGeneration") == obj["metadata"]["generation"])

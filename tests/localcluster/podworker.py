"""One pod on an agent node, from binding to deletion, as kubelet runs it: an address and
folders (the sandbox), volumes, init containers in order, then the containers as local process
groups with probes and the restart policy; status through pods/status; graceful deletion.

A container's command runs on this machine from the venv's PATH, with its env and args rewritten
from mount paths to local folders (podspec.MountMap). Its stdout and stderr go to
<state>/logs/pods/<namespace>/<pod>/<container>.log (`kubectl logs` needs a kubelet server and
does not work here).
"""

from __future__ import annotations

import signal
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from localcluster.containers import ContainerProcess, crash_backoff, now_rfc3339
from localcluster.kubeapi import Api, ApiError
from localcluster.launch import Launch, prepare
from localcluster.podspec import ConfigError, Lookups
from localcluster.podstatus import ContainerRecord, pod_status
from localcluster.probes import KINDS, Probe
from localcluster.volumes import PodVolumes, VolumeError, VolumeSources, remove_tree

Object = dict[str, Any]

TICK = 0.25
VOLUME_RETRY = 2.0
VOLUME_REFRESH = 2.0  # kubelet syncs every minute or so; tests should not wait that long


class NodeServices(Lookups, VolumeSources, Protocol):
    """What a pod needs from the node it runs on (noderuntime.NodeRuntime)."""

    name: str
    address: str
    api: Api
    pods_dir: Path
    logs_dir: Path
    bin_dir: Path

    def claim_address(self, uid: str, wanted: str | None) -> str: ...

    def release_address(self, uid: str, ip: str) -> None: ...

    def pod_kubeconfig(self, namespace: str, token_folder: Path) -> str: ...

    def event(self, pod: Object, reason: str, message: str, *, warning: bool = False,
              container: str | None = None) -> None: ...

    def log(self, message: str) -> None: ...


class PodWorker:
    """Runs in its own thread (start/join), fed the pod's latest object by the node runtime."""

    def __init__(self, node: NodeServices, pod: Object) -> None:
        meta = pod["metadata"]
        self._thread = threading.Thread(target=self._run, daemon=True,
                                        name=f"pod {meta['namespace']}/{meta['name']}")
        self.node, self.uid = node, str(meta["uid"])
        self.namespace, self.pod_name = str(meta["namespace"]), str(meta["name"])
        self.folder = node.pods_dir / self.uid
        self.log_dir = node.logs_dir / self.namespace / self.pod_name
        self._pod, self._lock, self._wake = pod, threading.Lock(), threading.Event()
        self._gone = self._shutdown = False
        self.ip = ""
        self.volumes: PodVolumes | None = None
        self._volume_error = ""
        self._next_volume_try = self._next_refresh = 0.0
        spec = pod["spec"]
        self.init_specs: list[Object] = list(spec.get("initContainers", []))
        self.specs: list[Object] = list(spec.get("containers", []))
        self.records: dict[str, ContainerRecord] = {}
        self.processes: dict[str, ContainerProcess] = {}
        self.probes: dict[str, list[Probe]] = {}
        self.not_before: dict[str, float] = {}
        self.started_clock: dict[str, float] = {}
        self.delays: dict[str, float] = {}
        self.start_time = str(pod.get("status", {}).get("startTime") or "")
        self.finished = pod.get("status", {}).get("phase") in ("Succeeded", "Failed")
        self._reported: Object | None = None

    # -- called by the node runtime -------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def join(self, timeout: float) -> None:
        self._thread.join(timeout)

    @property
    def pod(self) -> Object:
        with self._lock:
            return self._pod

    def update(self, pod: Object) -> None:
        with self._lock:
            self._pod = pod
        self._wake.set()

    def gone(self) -> None:
        self._gone = True
        self._wake.set()

    def shutdown(self) -> None:
        """The agent stops: end the processes, leave the API alone."""
        self._shutdown = True
        self._wake.set()

    # -- the loop ---------------------------------------------------------------------------

    def _run(self) -> None:
        self._guarded(self._adopt)
        while True:
            pod = self.pod
            if self._shutdown:
                self._guarded(self._stop_all, 2.0)
                return
            if self._gone:
                self._guarded(self._stop_all, 0.0)
                self._cleanup()
                return
            if pod["metadata"].get("deletionTimestamp") and self._guarded(
                    self._finish_deletion, pod):
                return
            if not self.finished:
                self._guarded(self._sync, pod)
            self._wake.wait(TICK)
            self._wake.clear()

    def _guarded(self, action: Callable[..., object], *args: Any) -> bool:
        """Run one step; a surprise is logged and the next tick tries again, as kubelet's
        sync loop does, instead of leaving the pod without a keeper."""
        try:
            action(*args)
            return True
        except Exception:
            self.node.log(f"pod {self.namespace}/{self.pod_name}: {traceback.format_exc()}")
            time.sleep(1.0)
            return False

    def _adopt(self) -> None:
        """Pick up an earlier agent's work: statuses from the API, processes from pid files."""
        statuses = self.pod.get("status", {})
        known = {s["name"]: s for s in [*statuses.get("initContainerStatuses", []),
                                        *statuses.get("containerStatuses", [])]}
        for spec in [*self.init_specs, *self.specs]:
            name = spec["name"]
            if name in known and self.folder.exists():
                self.records[name] = ContainerRecord.from_status(known[name], spec.get("image", ""))
            else:
                self.records[name] = ContainerRecord(name, spec.get("image", ""))
            process = ContainerProcess(self.folder / "containers" / name)
            if not self.finished and process.adopt():
                self.processes[name] = process
            elif self.records[name].running:
                # It ran under an earlier agent and left nothing behind: kubelet's verdict.
                self.records[name].state = {"terminated": {
                    "exitCode": 137, "reason": "ContainerStatusUnknown",
                    "message": "The container could not be located when the pod was terminated",
                    "finishedAt": now_rfc3339()}}
        wanted = statuses.get("podIP")
        if self.folder.exists() and not self.finished:
            self.ip = self.node.claim_address(self.uid, wanted)

    def _sync(self, pod: Object) -> None:
        self._step(pod)
        self._report(pod)

    def _step(self, pod: Object) -> None:
        if not self._sandbox(pod):
            return
        for spec in self.init_specs:
            record = self.records[spec["name"]]
            done = record.terminated
            if done is not None and done.get("exitCode") == 0:
                continue
            self._supervise(pod, spec, record)
            return
        for spec in self.specs:
            self._supervise(pod, spec, self.records[spec["name"]])

    def _view(self, pod: Object) -> Object:
        """The pod with the addresses the sandbox has, before the API has heard of them (the
        downward API must see status.podIP at the first start already)."""
        status = {**pod.get("status", {}), "hostIP": self.node.address,
                  "hostIPs": [{"ip": self.node.address}]}
        if self.ip:
            status.update(podIP=self.ip, podIPs=[{"ip": self.ip}])
        return {**pod, "status": status}

    def _sandbox(self, pod: Object) -> bool:
        """Address, folders and volumes; False while a volume cannot be set up yet."""
        now = time.monotonic()
        if not self.ip:
            self.folder.mkdir(parents=True, exist_ok=True)
            self.ip = self.node.claim_address(self.uid, None)
            self.start_time = self.start_time or now_rfc3339()
        if self.volumes is None:
            if now < self._next_volume_try:
                return False
            volumes = PodVolumes(self._view(pod), self.folder / "volumes", self.node)
            try:
                volumes.setup()
            except (VolumeError, ConfigError, ApiError) as error:
                self._next_volume_try = now + VOLUME_RETRY
                if str(error) != self._volume_error:
                    self._volume_error = str(error)
                    self.node.event(pod, "FailedMount", f"MountVolume.SetUp failed: {error}",
                                    warning=True)
                return False
            self.volumes, self._next_refresh = volumes, now + VOLUME_REFRESH
        elif now >= self._next_refresh:
            self.volumes.refresh(self._view(pod))
            self._next_refresh = now + VOLUME_REFRESH
        return True

    # -- containers -------------------------------------------------------------------------

    def _supervise(self, pod: Object, spec: Object, record: ContainerRecord) -> None:
        name = spec["name"]
        process = self.processes.get(name)
        if process is not None and process.running():
            if name not in self.probes:  # adopted from an earlier agent
                self.probes[name] = self._make_probes(spec, self._launch(pod, spec, process))
            self._probe(pod, spec, record, process)
            return
        if process is not None:
            del self.processes[name]
            self._ended(pod, spec, record, process)
        if record.terminated is not None or time.monotonic() < self.not_before.get(name, 0.0):
            return
        self._start(pod, spec, record)

    def _launch(self, pod: Object, spec: Object, process: ContainerProcess) -> Launch:
        assert self.volumes is not None
        return prepare(self._view(pod), spec, volume_paths=self.volumes.paths,
                       termination_log=process.termination_log, pod_folder=self.folder,
                       bin_dir=self.node.bin_dir, lookups=self.node,
                       kubeconfig_for=lambda folder: self.node.pod_kubeconfig(self.namespace,
                                                                              folder))

    def _start(self, pod: Object, spec: Object, record: ContainerRecord) -> None:
        name = spec["name"]
        process = ContainerProcess(self.folder / "containers" / name)
        try:
            launch = self._launch(pod, spec, process)
        except (ConfigError, VolumeError, ApiError) as error:
            if record.state.get("waiting", {}).get("message") != str(error):
                self.node.event(pod, "Failed", f"Error: {error}", warning=True, container=name)
            record.state = {"waiting": {"reason": ConfigError.reason, "message": str(error)}}
            self.not_before[name] = time.monotonic() + VOLUME_RETRY
            return
        if record.last_state or record.container_id:
            record.restart_count += 1
        process.start(launch.argv, launch.env, launch.cwd, self.log_dir / f"{name}.log")
        self.processes[name] = process
        self.started_clock[name] = time.monotonic()
        record.container_id = f"local://{self.uid}/{name}/{record.restart_count}"
        record.state = {"running": {"startedAt": process.started_at}}
        record.started = "startupProbe" not in spec
        record.ready = record.started and "readinessProbe" not in spec
        self.probes[name] = self._make_probes(spec, launch)
        self.node.event(pod, "Started", f"Started container {name}", container=name)

    @staticmethod
    def _make_probes(spec: Object, launch: Launch) -> list[Probe]:
        return [Probe(kind, spec[f"{kind}Probe"], launch.exec_probe)
                for kind in KINDS if f"{kind}Probe" in spec]

    def _probe(self, pod: Object, spec: Object, record: ContainerRecord,
               process: ContainerProcess) -> None:
        started = self.started_clock.setdefault(spec["name"], time.monotonic())
        now = time.monotonic()
        for probe in self.probes.get(spec["name"], []):
            if probe.kind != "startup" and not record.started:
                continue
            if probe.kind == "startup" and record.started:
                continue
            if not probe.due(started, now):
                continue
            before = probe.result
            result = probe.run(self.ip, spec)
            if not result and probe.failures:
                self.node.event(pod, "Unhealthy", f"{probe.kind.capitalize()} probe failed: "
                                f"{probe.message}", warning=True, container=spec["name"])
            if probe.kind == "startup" and result:
                record.started = True
                record.ready = "readinessProbe" not in spec
            elif probe.kind == "readiness":
                record.ready = result
            elif probe.kind == "liveness" and before and not result:
                self.node.event(pod, "Killing", f"Container {spec['name']} failed liveness "
                                "probe, will be restarted", container=spec["name"])
                process.stop(self._grace(pod))
            elif probe.kind == "startup" and probe.failures >= int(
                    probe.spec.get("failureThreshold", 3)):
                process.stop(self._grace(pod))

    def _ended(self, pod: Object, spec: Object, record: ContainerRecord,
               process: ContainerProcess) -> None:
        name = spec["name"]
        fallback = spec.get("terminationMessagePolicy") == "FallbackToLogsOnError"
        ending = process.ending(self.log_dir / f"{name}.log" if fallback else None)
        terminated = ending.terminated(record.container_id)
        record.ready = record.started = False
        policy = pod["spec"].get("restartPolicy", "Always")
        is_init = spec in self.init_specs
        restart = (policy == "Always" and not is_init) or (
            policy in ("Always", "OnFailure") and ending.exit_code != 0)
        if ending.reason == "StartError":
            self.node.event(pod, "Failed", f"Error: {ending.message}", warning=True,
                            container=name)
        if not restart:
            record.state = {"terminated": terminated}
            return
        delay = crash_backoff(self.delays.get(name), ending.ran_seconds)
        self.delays[name] = delay
        self.not_before[name] = time.monotonic() + delay
        record.last_state = {"terminated": terminated}
        record.state = {"waiting": {"reason": "CrashLoopBackOff", "message": (
            f"back-off {delay:.0f}s restarting failed container={name} "
            f"pod={self.pod_name}_{self.namespace}({self.uid})")}}
        self.node.event(pod, "BackOff", "Back-off restarting failed container "
                        f"{name} in pod {self.pod_name}_{self.namespace}({self.uid})",
                        warning=True, container=name)

    # -- status -----------------------------------------------------------------------------

    def _report(self, pod: Object, *, final: bool = False) -> None:
        status = pod_status(
            pod, [self.records[s["name"]] for s in self.init_specs],
            [self.records[s["name"]] for s in self.specs], pod_ip=self.ip,
            host_ip=self.node.address, start_time=self.start_time, final=final,
            now=now_rfc3339())
        if status["phase"] in ("Succeeded", "Failed"):
            self.finished = True
        comparable = {**status, "conditions": [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status["conditions"]
        ]}
        if comparable == self._reported:
            return
        path = f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}/status"
        try:
            self.update(self.node.api.patch(path, {"metadata": {"uid": self.uid},
                                                   "status": status}))
            self._reported = comparable
        except ApiError as error:
            if error.status == 404:
                self.gone()
            else:
                self.node.log(f"pod {self.namespace}/{self.pod_name}: status: {error}")

    # -- the end ----------------------------------------------------------------------------

    def _grace(self, pod: Object) -> float:
        meta_grace = pod["metadata"].get("deletionGracePeriodSeconds")
        spec_grace = pod["spec"].get("terminationGracePeriodSeconds", 30)
        return float(meta_grace if meta_grace is not None else spec_grace)

    def _stop_all(self, grace: float) -> None:
        running = [(n, p) for n, p in self.processes.items() if p.running()]
        for _, process in running:
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + grace
        for _, process in running:
            process.stop(max(0.0, deadline - time.monotonic()))

    def _finish_deletion(self, pod: Object) -> None:
        """Graceful deletion: SIGTERM, the grace period, SIGKILL, a last status, then the
        deletion with grace 0 that removes the object."""
        if not self.finished:
            if any(p.running() for p in self.processes.values()):
                self.node.event(pod, "Killing", "Stopping container(s)")
            self._stop_all(self._grace(pod))
            for spec in [*self.init_specs, *self.specs]:
                process = self.processes.pop(spec["name"], None)
                if process is not None:
                    ending = process.ending(None)
                    self.records[spec["name"]].state = {
                        "terminated": ending.terminated(self.records[spec["name"]].container_id)
                    }
                    self.records[spec["name"]].ready = self.records[spec["name"]].started = False
            self._report(pod, final=True)
        body = {"apiVersion": "v1", "kind": "DeleteOptions", "gracePeriodSeconds": 0,
                "preconditions": {"uid": self.uid}}
        try:
            self.node.api.delete(f"/api/v1/namespaces/{self.namespace}/pods/{self.pod_name}",
                                 body)
        except ApiError as error:
            if error.status != 409:  # 409: a new pod of that name; ours is already gone
                self.node.log(f"pod {self.namespace}/{self.pod_name}: delete: {error}")
        self._cleanup()

    def _cleanup(self) -> None:
        if self.ip:
            self.node.release_address(self.uid, self.ip)
        remove_tree(self.folder)

"""A pod's status as kubelet reports it: container states, the pod phase and the conditions.
Pure functions over the agent's records of each container."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

Object = dict[str, Any]


@dataclass
class ContainerRecord:
    """What the agent knows of one container, in the API's words."""

    name: str
    image: str
    state: Object = field(default_factory=lambda: {"waiting": {"reason": "ContainerCreating"}})
    last_state: Object = field(default_factory=dict)
    restart_count: int = 0
    ready: bool = False
    started: bool = False
    container_id: str = ""

    @property
    def running(self) -> bool:
        return "running" in self.state

    @property
    def terminated(self) -> Object | None:
        terminated: Object | None = self.state.get("terminated")
        return terminated

    def status(self) -> Object:
        status: Object = {
            "name": self.name, "image": self.image, "imageID": "", "ready": self.ready,
            "started": self.started, "restartCount": self.restart_count,
            "state": self.state, "lastState": self.last_state,
        }
        if self.container_id:
            status["containerID"] = self.container_id
        return status

    @classmethod
    def from_status(cls, status: Object, image: str) -> ContainerRecord:
        """Pick up what an earlier agent reported (restart counts, start times)."""
        return cls(
            name=status["name"], image=image,
            state=dict(status.get("state") or {"waiting": {"reason": "ContainerCreating"}}),
            last_state=dict(status.get("lastState") or {}),
            restart_count=int(status.get("restartCount", 0)),
            ready=bool(status.get("ready", False)), started=bool(status.get("started", False)),
            container_id=str(status.get("containerID", "")),
        )


def _stopped(record: ContainerRecord) -> tuple[bool, bool]:
    """(stopped, succeeded): a container waiting to restart counts as stopped, as in kubelet."""
    if record.running:
        return False, False
    ended = record.terminated
    if ended is None and "waiting" in record.state:
        ended = record.last_state.get("terminated")
    if ended is None:
        return False, False
    return True, int(ended.get("exitCode", 1)) == 0


def pod_phase(restart_policy: str, init: Sequence[ContainerRecord],
              containers: Sequence[ContainerRecord], *, final: bool = False) -> str:
    """kubelet's getPhase. `final`: the pod is being torn down; nothing restarts any more."""
    for record in init:
        done = record.terminated
        if done is not None and int(done.get("exitCode", 1)) == 0:
            continue
        if done is not None and (restart_policy == "Never" or final):
            return "Failed"
        return "Failed" if final else "Pending"
    running = waiting = stopped = succeeded = 0
    for record in containers:
        if record.running:
            running += 1
            continue
        is_stopped, is_succeeded = _stopped(record)
        if is_stopped:
            stopped += 1
            succeeded += int(is_succeeded)
        else:
            waiting += 1
    if final:
        return "Succeeded" if succeeded == len(containers) else "Failed"
    if waiting:
        return "Pending"
    if running:
        return "Running"
    if not stopped:
        return "Pending"
    if restart_policy == "Always":
        return "Running"
    if stopped == succeeded:
        return "Succeeded"
    return "Running" if restart_policy == "OnFailure" else "Failed"


def _condition(previous: Sequence[Object], kind: str, ok: bool, now: str,
               reason: str = "", message: str = "") -> Object:
    status = "True" if ok else "False"
    before = next((c for c in previous if c.get("type") == kind), None)
    changed = before is None or before.get("status") != status
    condition: Object = {
        "type": kind, "status": status,
        "lastTransitionTime": now if changed or before is None else before["lastTransitionTime"],
        "lastProbeTime": None,
    }
    if not ok and reason:
        condition.update(reason=reason, message=message)
    return condition


def pod_conditions(previous: Sequence[Object], *, sandbox: bool, init: Sequence[ContainerRecord],
                   containers: Sequence[ContainerRecord], phase: str,
                   readiness_gates: Sequence[str], now: str) -> list[Object]:
    pending_init = [r.name for r in init
                    if not (r.terminated and int(r.terminated.get("exitCode", 1)) == 0)]
    unready = [r.name for r in containers if not r.ready]
    terminal = phase in ("Succeeded", "Failed")
    containers_ready = not unready and not terminal
    gates_open = [g for g in readiness_gates
                  if not any(c.get("type") == g and c.get("status") == "True" for c in previous)]
    why = "PodCompleted" if terminal else "ContainersNotReady"
    message = "" if terminal else f"containers with unready status: [{' '.join(unready)}]"
    ready_message = message
    if containers_ready and gates_open:
        why, ready_message = "ReadinessGatesNotReady", (
            f"corresponding condition of pod readiness gate \"{gates_open[0]}\" does not exist."
        )
    return [
        _condition(previous, "PodReadyToStartContainers", sandbox and not terminal, now),
        _condition(previous, "Initialized", not pending_init, now, "ContainersNotInitialized",
                   f"containers with incomplete status: [{' '.join(pending_init)}]"),
        _condition(previous, "ContainersReady", containers_ready, now, why, message),
        _condition(previous, "Ready", containers_ready and not gates_open, now, why,
                   ready_message),
    ]


def pod_status(pod: Object, init: Sequence[ContainerRecord],
               containers: Sequence[ContainerRecord], *, pod_ip: str, host_ip: str,
               start_time: str, final: bool, now: str) -> Object:
    """The whole `status` the agent sends (PodScheduled stays the scheduler's: conditions
    merge by type)."""
    phase = pod_phase(pod["spec"].get("restartPolicy", "Always"), init, containers, final=final)
    gates = [g["conditionType"] for g in pod["spec"].get("readinessGates", [])]
    status: Object = {
        "phase": phase,
        "conditions": pod_conditions(pod.get("status", {}).get("conditions", []),
                                     sandbox=bool(pod_ip), init=init, containers=containers,
                                     phase=phase, readiness_gates=gates, now=now),
        "hostIP": host_ip, "hostIPs": [{"ip": host_ip}],
        "containerStatuses": [r.status() for r in containers],
    }
    if init:
        status["initContainerStatuses"] = [r.status() for r in init]
    if pod_ip:
        status.update(podIP=pod_ip, podIPs=[{"ip": pod_ip}])
    if start_time:
        status["startTime"] = start_time
    return status

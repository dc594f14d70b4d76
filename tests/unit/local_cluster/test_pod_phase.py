"""The pod phase and conditions the agent reports, as kubelet computes them."""

from __future__ import annotations

import pytest
from localcluster.podstatus import ContainerRecord, pod_conditions, pod_phase


def running(name: str = "c", ready: bool = True) -> ContainerRecord:
    return ContainerRecord(name, "img", state={"running": {"startedAt": "t"}}, ready=ready)


def ended(code: int, name: str = "c") -> ContainerRecord:
    return ContainerRecord(name, "img", state={"terminated": {"exitCode": code}})


def backing_off(last_code: int, name: str = "c") -> ContainerRecord:
    return ContainerRecord(name, "img", state={"waiting": {"reason": "CrashLoopBackOff"}},
                           last_state={"terminated": {"exitCode": last_code}}, restart_count=1)


def creating(name: str = "c") -> ContainerRecord:
    return ContainerRecord(name, "img")


@pytest.mark.parametrize(("policy", "containers", "phase"), [
    ("Always", [creating()], "Pending"),
    ("Always", [running()], "Running"),
    ("Always", [running("a"), creating("b")], "Pending"),
    ("Always", [backing_off(1)], "Running"),
    ("Never", [ended(0)], "Succeeded"),
    ("Never", [ended(2)], "Failed"),
    ("Never", [ended(0, "a"), running("b")], "Running"),
    ("Never", [ended(0, "a"), ended(1, "b")], "Failed"),
    ("OnFailure", [ended(0)], "Succeeded"),
    ("OnFailure", [backing_off(3)], "Running"),
    ("OnFailure", [ended(0, "a"), backing_off(1, "b")], "Running"),
])
def test_phase(policy: str, containers: list[ContainerRecord], phase: str) -> None:
    assert pod_phase(policy, [], containers) == phase


def test_init_containers_hold_the_pod_pending_or_fail_it() -> None:
    assert pod_phase("Always", [running("init")], [creating()]) == "Pending"
    assert pod_phase("Never", [ended(1, "init")], [creating()]) == "Failed"
    assert pod_phase("OnFailure", [backing_off(1, "init")], [creating()]) == "Pending"
    assert pod_phase("Never", [ended(0, "init")], [running()]) == "Running"


def test_final_phase_of_a_deleted_pod() -> None:
    assert pod_phase("Always", [], [ended(0)], final=True) == "Succeeded"
    assert pod_phase("Always", [], [ended(137)], final=True) == "Failed"


def conditions(*, previous: list[dict[str, str]] | None = None,
               containers: list[ContainerRecord] | None = None, phase: str = "Running",
               readiness_gates: tuple[str, ...] = ()) -> dict[str, dict[str, object]]:
    made = pod_conditions(previous or [], sandbox=True, init=[],
                          containers=containers or [running()], phase=phase,
                          readiness_gates=readiness_gates, now="2026-11-25T10:00:00Z")
    return {c["type"]: c for c in made}


def test_ready_when_every_container_is_ready() -> None:
    got = conditions(containers=[running("a"), running("b")])
    assert got["Ready"]["status"] == "True" and got["ContainersReady"]["status"] == "True"
    assert got["Initialized"]["status"] == "True"
    assert got["PodReadyToStartContainers"]["status"] == "True"


def test_not_ready_names_the_unready_containers() -> None:
    got = conditions(containers=[running("a"), running("b", ready=False)])
    assert got["Ready"]["status"] == "False"
    assert got["Ready"]["reason"] == "ContainersNotReady"
    assert got["Ready"]["message"] == "containers with unready status: [b]"


def test_completed_pod_is_not_ready() -> None:
    got = conditions(containers=[ended(0)], phase="Succeeded")
    assert got["Ready"]["status"] == "False" and got["Ready"]["reason"] == "PodCompleted"


def test_readiness_gate_keeps_the_pod_unready_until_its_condition_is_true() -> None:
    gated = conditions(readiness_gates=("classroom-operator.io/streams",))
    assert gated["ContainersReady"]["status"] == "True"
    assert gated["Ready"]["status"] == "False"
    assert gated["Ready"]["reason"] == "ReadinessGatesNotReady"
    opened = conditions(readiness_gates=("classroom-operator.io/streams",), previous=[
        {"type": "classroom-operator.io/streams", "status": "True"}])
    assert opened["Ready"]["status"] == "True"


def test_transition_time_kept_while_the_status_holds() -> None:
    previous = [{"type": "Ready", "status": "True", "lastTransitionTime": "earlier"}]
    assert conditions(previous=previous)["Ready"]["lastTransitionTime"] == "earlier"
    flipped = conditions(previous=previous, containers=[running(ready=False)])
    assert flipped["Ready"]["lastTransitionTime"] == "2026-11-25T10:00:00Z"

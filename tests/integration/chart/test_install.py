"""`helm install` onto the real control plane, into a namespace enforcing the `restricted` Pod
Security Standard: the operator's pods are admitted, run through the node agent, become Ready,
and find each other through kopf peering."""

from __future__ import annotations

import json
import time
from typing import Any

from integration.chart.release import Release


def test_restricted_is_enforced_in_the_release_namespace(installed: Release) -> None:
    # The install below means something only if this namespace really refuses a pod that breaks
    # the restricted standard.
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "privileged"},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"],
                                    "securityContext": {"privileged": True}}]}}
    refused = installed.cluster.kubectl("create", "-n", installed.namespace, "-f", "-",
                                        input=json.dumps(pod), check=False)
    assert refused.returncode != 0
    assert "violates PodSecurity" in refused.stderr


def test_operator_pods_are_admitted_and_become_ready(installed: Release) -> None:
    installed.rollout()
    pods = json.loads(installed.cluster.kubectl(
        "get", "pods", "-n", installed.namespace, "-o", "json",
        "-l", "app.kubernetes.io/name=classroom-operator").stdout)["items"]
    assert len(pods) == 2
    for pod in pods:
        ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert ready["Ready"] == "True", pod["status"]
        (container,) = pod["status"]["containerStatuses"]
        assert container["restartCount"] == 0
        assert pod["status"]["podIP"]


def test_both_replicas_join_the_peering(installed: Release) -> None:
    installed.rollout()
    deadline = time.monotonic() + 60
    peers: dict[str, Any] = {}
    while time.monotonic() < deadline:
        peering = json.loads(installed.cluster.kubectl(
            "get", "clusterkopfpeering", installed.namespace, "-o", "json").stdout)
        peers = peering.get("status") or {}
        if len(peers) == 2:
            break
        time.sleep(1)
    assert len(peers) == 2, peers
    priorities = [peer["priority"] for peer in peers.values()]
    # Equal priorities would make kopf pause both replicas.
    assert priorities[0] != priorities[1]


def test_notes_tell_the_next_step(installed: Release) -> None:
    notes = installed.cluster.helm("get", "notes", installed.name,
                                   "--namespace", installed.namespace).stdout
    assert "kubectl apply -f examples/small-site.yaml" in notes
    assert "kubectl get cmodel -w" in notes
    assert f"rollout status deployment/{installed.name}" in notes


def test_helm_test_passes(installed: Release) -> None:
    installed.rollout()
    done = installed.cluster.helm("test", installed.name, "--namespace", installed.namespace,
                                  "--timeout", "180s", check=False, timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Phase:          Succeeded" in done.stdout
    log = installed.cluster.pod_log(installed.namespace, f"{installed.name}-test")
    assert "2 operator pod(s) healthy, CRDs established, peering present" in log

"""The node agent runs a Job's pod as a local process: it completes, its termination message
and exit code reach the API, and a command that does not exist is reported as kubelet does."""

from __future__ import annotations

import json
from typing import Any

from localcluster.cluster import LocalCluster

SUMMARY_CODE = """
import json, os, sys
summary = {"fingerprint": "0123456789abcdef", "state": "Ready", "node": os.environ["NODE"],
           "pod": os.environ["POD_NAME"], "namespace": os.environ["POD_NAMESPACE"]}
open(sys.argv[1], "w").write(json.dumps(summary))
print("built", summary["fingerprint"])
"""


def job(name: str, command: list[str], *, backoff_limit: int = 0,
        node: str = "gpu-a100-0") -> dict[str, Any]:
    env = [{"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
           {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
           {"name": "POD_NAMESPACE",
            "valueFrom": {"fieldRef": {"fieldPath": "metadata.namespace"}}}]
    return {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name},
        "spec": {"backoffLimit": backoff_limit, "template": {"spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"kubernetes.io/hostname": node},
            "containers": [{"name": "build", "image": "classroom-inference:local",
                            "command": command, "env": env}],
        }}},
    }


def job_pod(cluster: LocalCluster, namespace: str, name: str) -> dict[str, Any] | None:
    pods = cluster.api().get(f"/api/v1/namespaces/{namespace}/pods",
                             labelSelector=f"job-name={name}")["items"]
    finished = [p for p in pods if p.get("status", {}).get("phase") in ("Succeeded", "Failed")]
    return finished[0] if finished else None


def test_job_completes_with_its_termination_message(cluster: LocalCluster, namespace: str,
                                                    apply: Any, wait: Any, get: Any) -> None:
    apply(namespace, [job("engine-build", ["python", "-c", SUMMARY_CODE,
                                           "/dev/termination-log"])])
    done = wait(lambda: (j := get("job", "engine-build", namespace)) and any(
        c["type"] == "Complete" and c["status"] == "True"
        for c in j.get("status", {}).get("conditions", [])) and j, "the Job to complete")
    assert done["status"]["succeeded"] == 1

    pod = job_pod(cluster, namespace, "engine-build")
    assert pod is not None and pod["status"]["phase"] == "Succeeded"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 0 and terminated["reason"] == "Completed"
    summary = json.loads(terminated["message"])
    assert summary == {"fingerprint": "0123456789abcdef", "state": "Ready",
                       "node": "gpu-a100-0", "pod": pod["metadata"]["name"],
                       "namespace": namespace}
    assert pod["status"]["podIP"].startswith("127.") and pod["status"]["podIP"] != "127.0.0.1"
    assert "built 0123456789abcdef" in cluster.pod_log(namespace, pod["metadata"]["name"])


def test_failing_job_reports_exit_code_and_message(cluster: LocalCluster, namespace: str,
                                                   apply: Any, wait: Any) -> None:
    code = "import sys; open(sys.argv[1], 'w').write('x' * 9000); sys.exit(2)"
    apply(namespace, [job("bad-model", ["python", "-c", code, "/dev/termination-log"])])
    pod = wait(lambda: job_pod(cluster, namespace, "bad-model"), "the Job's pod to fail")
    assert pod["status"]["phase"] == "Failed"
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 2 and terminated["reason"] == "Error"
    assert terminated["message"] == "x" * 4096  # capped as kubelet caps it


def test_missing_command_is_a_start_error(cluster: LocalCluster, namespace: str, apply: Any,
                                         wait: Any) -> None:
    apply(namespace, [job("no-such-tool", ["classroom-no-such-tool", "build"])])
    pod = wait(lambda: job_pod(cluster, namespace, "no-such-tool"), "the pod to fail")
    terminated = pod["status"]["containerStatuses"][0]["state"]["terminated"]
    assert terminated["exitCode"] == 128 and terminated["reason"] == "StartError"
    assert terminated["message"] == \
        'exec: "classroom-no-such-tool": executable file not found in $PATH'


def test_this_repositorys_entry_points_run_in_pods(cluster: LocalCluster, namespace: str,
                                                   apply: Any, wait: Any) -> None:
    apply(namespace, [job("entry-point", ["classroom-inference", "--help"])])
    pod = wait(lambda: job_pod(cluster, namespace, "entry-point"), "the pod to finish")
    assert pod["status"]["phase"] == "Succeeded"
    assert cluster.pod_log(namespace, pod["metadata"]["name"]).startswith(
        "usage: classroom-inference")

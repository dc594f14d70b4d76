"""Pods on the agent's nodes are real processes with their own loopback pod IP: HTTP readiness
probes, ConfigMap volumes refreshed in place, a claim shared between pods, graceful deletion."""

from __future__ import annotations

import time
import urllib.request
from typing import Any

from localcluster.cluster import LocalCluster

SERVER = {
    "name": "web", "image": "python:3.11",
    "command": ["python", "-m", "http.server", "--bind", "$(POD_IP)", "8080",
                "--directory", "/srv/site"],
    "env": [{"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}],
    "ports": [{"name": "http", "containerPort": 8080}],
    "readinessProbe": {"httpGet": {"path": "/index.html", "port": "http"},
                       "periodSeconds": 1},
    "volumeMounts": [{"name": "site", "mountPath": "/srv/site"}],
}


def ready(pod: dict[str, Any] | None) -> bool:
    conditions = (pod or {}).get("status", {}).get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def test_http_readiness_probe_makes_the_pod_ready(cluster: LocalCluster, namespace: str,
                                                  apply: Any, wait: Any, get: Any) -> None:
    apply(namespace, [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "site"},
         "data": {"index.html": "classroom"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
         "spec": {"nodeName": "gpu-l4-0", "containers": [SERVER],
                  "volumes": [{"name": "site", "configMap": {"name": "site"}}]}},
    ])
    pod = wait(lambda: (p := get("pod", "web", namespace)) and ready(p) and p, "pod Ready")
    ip = pod["status"]["podIP"]
    assert ip.startswith("127.") and ip != "127.0.0.1"
    assert pod["status"]["podIPs"] == [{"ip": ip}]
    assert pod["status"]["hostIP"].startswith("127.41.")
    assert pod["status"]["phase"] == "Running"
    with urllib.request.urlopen(f"http://{ip}:8080/index.html", timeout=5) as response:
        assert response.read() == b"classroom"


def test_pods_get_distinct_addresses(cluster: LocalCluster, namespace: str, apply: Any,
                                     wait: Any, get: Any, python_pod: Any) -> None:
    names = [f"sleeper-{i}" for i in range(3)]
    apply(namespace, [python_pod(n, "import time; time.sleep(600)") for n in names])
    pods = [wait(lambda n=n: (p := get("pod", n, namespace)) and ready(p) and p, f"{n} Ready")
            for n in names]
    ips = {p["status"]["podIP"] for p in pods}
    assert len(ips) == 3 and "127.0.0.1" not in ips


def test_configmap_change_reaches_the_running_process(cluster: LocalCluster, namespace: str,
                                                      apply: Any, wait: Any,
                                                      python_pod: Any) -> None:
    code = ("import sys, time\n"
            "while True:\n"
            "    print('assignment:', open(sys.argv[1]).read(), flush=True)\n"
            "    time.sleep(0.2)\n")
    config = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "assignment"},
              "data": {"rooms": "room-101"}}
    pod = python_pod("reader", code, container={
        "args": ["/etc/classroom/assignment/rooms"],
        "volumeMounts": [{"name": "assignment", "mountPath": "/etc/classroom/assignment"}]},
        volumes=[{"name": "assignment", "configMap": {"name": "assignment"}}])
    apply(namespace, [config, pod])
    wait(lambda: "assignment: room-101" in cluster.pod_log(namespace, "reader"), "first read")
    config["data"] = {"rooms": "room-101,room-102"}
    apply(namespace, [config])
    wait(lambda: "assignment: room-101,room-102" in cluster.pod_log(namespace, "reader"),
         "the process to read the changed ConfigMap", timeout=30)


def test_a_claim_is_one_folder_shared_by_a_job_and_a_pod(cluster: LocalCluster, namespace: str,
                                                         apply: Any, wait: Any, get: Any,
                                                         python_pod: Any) -> None:
    claim = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
             "metadata": {"name": "engines"},
             "spec": {"accessModes": ["ReadWriteMany"],
                      "resources": {"requests": {"storage": "1Gi"}}}}
    mount = {"volumeMounts": [{"name": "store", "mountPath": "/var/lib/classroom/engines"}]}
    volumes = [{"name": "store", "persistentVolumeClaim": {"claimName": "engines"}}]
    writer = python_pod("writer", "import sys; open(sys.argv[1] + '/engine.onnx', 'w')"
                        ".write('plan')", container={**mount, "args": [
                            "/var/lib/classroom/engines"]}, volumes=volumes,
                        nodeName="gpu-a100-0")
    apply(namespace, [claim, writer])
    wait(lambda: (p := get("pod", "writer", namespace))
         and p["status"].get("phase") == "Succeeded", "the writer to finish")
    reader = python_pod("reader", "import os; print(open(os.environ['STORE'] + '/engine.onnx')"
                        ".read())", container={**mount, "env": [
                            {"name": "STORE", "value": "/var/lib/classroom/engines"}]},
                        volumes=volumes, nodeName="gpu-l4-0")
    apply(namespace, [reader])
    wait(lambda: (p := get("pod", "reader", namespace))
         and p["status"].get("phase") == "Succeeded", "the reader to finish")
    assert cluster.pod_log(namespace, "reader").strip() == "plan"
    bound = get("pvc", "engines", namespace)
    assert bound["status"]["phase"] == "Bound"
    assert bound["spec"]["storageClassName"] == "local"


def test_graceful_delete_sends_sigterm_then_removes_the_pod(cluster: LocalCluster,
                                                            namespace: str, apply: Any,
                                                            wait: Any, get: Any,
                                                            python_pod: Any) -> None:
    code = ("import signal, sys, time\n"
            "def bye(*_):\n"
            "    print('draining', flush=True); time.sleep(1); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\n"
            "print('serving', flush=True)\n"
            "while True: time.sleep(0.1)\n")
    apply(namespace, [python_pod("draining", code, terminationGracePeriodSeconds=60)])
    wait(lambda: "serving" in cluster.pod_log(namespace, "draining"), "the pod to serve")
    began = time.monotonic()
    cluster.kubectl("delete", "pod", "draining", "-n", namespace, "--wait=true",
                    "--timeout=90s")
    elapsed = time.monotonic() - began
    assert get("pod", "draining", namespace) is None
    assert "draining" in cluster.pod_log(namespace, "draining")
    # The process ended a second after SIGTERM; the pod must not sit out its 60 s of grace.
    assert elapsed < 30, f"deletion took {elapsed:.1f}s although the process ended after 1s"


def test_failing_liveness_probe_restarts_the_container(cluster: LocalCluster, namespace: str,
                                                       apply: Any, wait: Any, get: Any) -> None:
    server = {key: value for key, value in SERVER.items() if key != "readinessProbe"}
    server["livenessProbe"] = {"httpGet": {"path": "/healthz", "port": 8080},
                               "periodSeconds": 1, "failureThreshold": 2}
    apply(namespace, [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "site"},
         "data": {"index.html": "no healthz here"}},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"},
         "spec": {"nodeName": "gpu-a100-0", "containers": [server],
                  "volumes": [{"name": "site", "configMap": {"name": "site"}}]}},
    ])
    pod = wait(lambda: (p := get("pod", "web", namespace))
               and p["status"].get("containerStatuses", [{}])[0].get("restartCount", 0) >= 1
               and p, "a restart after the liveness probe failed", timeout=90)
    status = pod["status"]["containerStatuses"][0]
    assert status["lastState"]["terminated"]["exitCode"] == 128 + 15  # SIGTERM
    events = cluster.kubectl("get", "events", "-n", namespace, "-o", "jsonpath={.items[*].reason}")
    assert "Unhealthy" in events.stdout.split() and "Killing" in events.stdout.split()


def test_on_failure_restarts_the_container(cluster: LocalCluster, namespace: str, apply: Any,
                                           wait: Any, get: Any, python_pod: Any) -> None:
    code = ("import os, sys\n"
            "marker = os.environ['HOME'] + '/tried'\n"
            "if not os.path.exists(marker):\n"
            "    open(marker, 'w').close(); sys.exit(3)\n"
            "print('second try')\n")
    apply(namespace, [python_pod("retry", code, restartPolicy="OnFailure")])
    pod = wait(lambda: (p := get("pod", "retry", namespace))
               and p["status"].get("phase") == "Succeeded" and p, "the retry to succeed",
               timeout=60)
    status = pod["status"]["containerStatuses"][0]
    assert status["restartCount"] == 1
    assert status["lastState"]["terminated"]["exitCode"] == 3
    assert status["state"]["terminated"]["exitCode"] == 0

"""kwok-managed GPU nodes: Ready without any process behind them, and the scheduler places a
Deployment's pods onto them, where kwok's default stages move them to Running."""

from __future__ import annotations

from typing import Any

from localcluster.cluster import LocalCluster
from localcluster.nodes import h100, t4


def test_deployment_pods_run_on_a_kwok_gpu_node(cluster: LocalCluster, namespace: str,
                                                extra_nodes: Any, apply: Any, wait: Any,
                                                get: Any) -> None:
    extra_nodes(h100("kwok-h100-0", runner="kwok", driver="570.86.15"))
    node = get("node", "kwok-h100-0")
    assert node["metadata"]["labels"]["nvidia.com/gpu.product"] == "NVIDIA-H100-80GB-HBM3"
    assert node["status"]["allocatable"]["nvidia.com/gpu"] == "1"
    assert {"key": "kwok.x-k8s.io/node", "value": "fake", "effect": "NoSchedule"} in \
        node["spec"]["taints"]

    apply(namespace, [{
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "served"},
        "spec": {
            "replicas": 2, "selector": {"matchLabels": {"app": "served"}},
            "template": {
                "metadata": {"labels": {"app": "served"}},
                "spec": {
                    "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
                    "tolerations": [{"key": "kwok.x-k8s.io/node", "operator": "Exists"}],
                    "containers": [{"name": "server", "image": "classroom-inference:local"}],
                },
            },
        },
    }])

    def running_pods() -> list[dict[str, Any]]:
        pods = cluster.api().get(f"/api/v1/namespaces/{namespace}/pods",
                                 labelSelector="app=served")["items"]
        running = [p for p in pods if p.get("status", {}).get("phase") == "Running"]
        return running if len(running) == 2 else []

    pods = wait(running_pods, "2 Running pods of the Deployment")
    assert {p["spec"]["nodeName"] for p in pods} == {"kwok-h100-0"}
    assert all(not p["status"]["podIP"].startswith("127.") for p in pods)  # kwok's CIDR
    deployment = wait(lambda: (d := get("deployment", "served", namespace))
                      and d["status"].get("readyReplicas") == 2 and d, "Deployment ready")
    assert deployment["status"]["availableReplicas"] == 2


def test_a_fleet_of_kwok_nodes_becomes_ready(cluster: LocalCluster, extra_nodes: Any,
                                            wait: Any) -> None:
    fleet = [t4(f"kwok-t4-{i}", runner="kwok") for i in range(40)]
    extra_nodes(*fleet)
    nodes = cluster.api().get("/api/v1/nodes", labelSelector="nvidia.com/gpu.product=Tesla-T4")
    ready = [n for n in nodes["items"]
             if any(c["type"] == "Ready" and c["status"] == "True"
                    for c in n["status"].get("conditions", []))]
    assert len(ready) == 40
    assert all(n["metadata"]["labels"]["nvidia.com/gpu.compute.major"] == "7" for n in ready)

"""The operator process itself: health and metrics endpoints on its pod IP, structured logs,
and leader election between two replicas (only the leader acts; the standby takes over)."""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator

import pytest
from bench.operator_harness import (
    JobRecorder,
    OperatorProcess,
    apply,
    model,
    model_manifest,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import GpuNode

JOB_POSTS = 'classroom_operator_api_requests_total{code="201",resource="jobs",verb="POST"}'


def _ready(api: Api, namespace: str, name: str) -> bool:
    status = (model(api, namespace, name) or {}).get("status") or {}
    return bool(status.get("enginesNeeded")) and status.get("enginesReady") == \
        status.get("enginesNeeded")


def test_health_metrics_and_json_logs(cluster: LocalCluster, api: Api, pool: str, stem: str,
                                      nodes: Callable[..., None],
                                      operator: Callable[..., OperatorProcess]) -> None:
    product = f"NVIDIA-Test-{stem}"  # a class no other test's model can need
    nodes(GpuNode(f"{stem}-gpu-0", product, runner="kwok"))
    running = operator()
    apply(cluster, pool, [model_manifest("attention", pool)])
    wait_for(lambda: _ready(api, pool, "attention"), "the engine")

    with urllib.request.urlopen(f"http://{running.pod_ip}:8080/healthz", timeout=5) as reply:
        assert reply.status == 200
    samples = running.metrics()
    gpu_class = f"{product.lower()}-sm80-drv550"
    assert samples[f'classroom_operator_builds_started_total{{gpu_class="{gpu_class}"}}'] == 1
    assert samples[f'classroom_operator_builds_succeeded_total{{gpu_class="{gpu_class}"}}'] == 1
    assert samples["classroom_operator_reconcile_duration_seconds_count"] >= 1
    assert samples["classroom_operator_queue_depth"] >= 0
    assert samples["classroom_operator_engines_ready"] >= 1
    lines = [line for line in running.logs.read_text().splitlines() if line.startswith("{")]
    assert lines, "no structured log lines"
    assert all({"message", "severity", "timestamp"} <= set(json.loads(line)) for line in lines)


@pytest.fixture
def peering(cluster: LocalCluster, pool: str) -> Iterator[str]:
    name = f"classroom-{pool}"
    cluster.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}))
    yield name
    cluster.kubectl("delete", "clusterkopfpeering", name, "--wait=false", check=False)


def test_only_the_leader_acts_and_the_standby_takes_over(
        cluster: LocalCluster, api: Api, pool: str, stem: str, peering: str,
        nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(GpuNode(f"{stem}-gpu-0", f"NVIDIA-Test-{stem}-A", runner="kwok"))
    replicas = [operator(CLASSROOM_PEERING=peering), operator(CLASSROOM_PEERING=peering)]
    recorder = JobRecorder(api, pool)
    time.sleep(3)  # both replicas see each other in the peering object
    apply(cluster, pool, [model_manifest("first", pool)])
    wait_for(lambda: _ready(api, pool, "first"), "the first model's engine")
    posts = [replica.metrics().get(JOB_POSTS, 0) for replica in replicas]
    assert sorted(posts) == [0, 1], posts
    leader, standby = (replicas[0], replicas[1]) if posts[0] else (replicas[1], replicas[0])

    leader.kill()
    nodes(GpuNode(f"{stem}-gpu-1", f"NVIDIA-Test-{stem}-B", runner="kwok"))
    started = time.monotonic()
    wait_for(lambda: len(recorder.builds()) == 2, "the standby to build the new engine",
             timeout=120)
    print(f"\nstandby took over {time.monotonic() - started:.1f}s after the leader was killed")
    assert standby.metrics().get(JOB_POSTS, 0) == 1
    recorder.close()

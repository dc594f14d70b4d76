"""A rebuild on a full cluster: two agent nodes of one GPU each, both GPUs serving the model's
pool. A spec change needs a new engine, whose build Job finds no GPU: status says so
(Degraded, BuildUnschedulable, with the scheduler's message), the old pool gives one GPU up
(a GpuYielded Event stating the cost), the build runs, the new pool's second pod finds no GPU
in turn and the old pool gives up its last, and the model ends Ready on the new pool."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest
from bench.operator_harness import (
    OperatorProcess,
    apply,
    condition,
    model_manifest,
    running_operator,
    wait_for,
)
from integration.pool_rollout.kit import Media, Object, room, serving, statefulsets
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100

TIMEOUT = 300  # a build, then pods that load an engine and open their streams
ROOMS = ("room-101", "room-102")


@pytest.fixture
def patient_operator(cluster: LocalCluster, pool: str, api: Api,
                     tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """The operator, giving a GPU up after 3 s of a new engine's pod waiting for one."""
    yield from running_operator(cluster, api, pool, tmp_path_factory.mktemp("operator"),
                                CLASSROOM_RESYNC_SECONDS="5",
                                CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS="3")


def _model(api: Api, pool: str) -> Object:
    found = api.get_or_none(f"/apis/classroom-operator.io/v1alpha1/namespaces/{pool}/"
                            "classroommodels/attention") or {}
    return found


def _gpu_yields(cluster: LocalCluster, pool: str) -> list[str]:
    listing = json.loads(cluster.kubectl("get", "events", "-n", pool, "-o", "json").stdout)
    return sorted((item["message"] for item in listing["items"]
                   if item.get("reason") == "GpuYielded"),
                  key=lambda message: "runs 0" in message)


def test_a_rebuild_on_a_full_cluster_makes_progress_by_itself(
        cluster: LocalCluster, api: Api, pool: str,
        nodes: Callable[..., list[str]], patient_operator: OperatorProcess,
        media: Media) -> None:
    nodes(a100(f"{pool[:20]}-a", count=1), a100(f"{pool[:20]}-b", count=1))
    classrooms = [room(media, name) for name in ROOMS]
    two_pods = {"targetFps": 5, "replicas": {"min": 2, "max": 2}}
    apply(cluster, pool, [model_manifest("attention", pool, model=media.model,
                                         classrooms=classrooms, serving=two_pods)])
    before = wait_for(lambda: serving(api, pool, "attention", 2), "2 healthy streams",
                      timeout=TIMEOUT)
    assert before["summary"]["pods"] == "2/2"  # one pod on each GPU: the cluster is full
    (old_engine,) = before["engines"]
    (old_pool,) = statefulsets(api, pool)

    # A new batch profile needs a new engine; its build finds every GPU taken.
    apply(cluster, pool, [model_manifest("attention", pool, model=media.model,
                                         classrooms=classrooms, serving=two_pods,
                                         engine={"batch": {"min": 1, "opt": 4, "max": 16}})])

    # The alert ClassroomBuildUnschedulable reads this gauge while the build waits.
    gauge = f'classroom_operator_builds_unschedulable{{model="attention",namespace="{pool}"}}'
    counted: list[float] = []

    def unschedulable() -> Object | None:
        counted.append(patient_operator.metrics().get(gauge, 0.0))
        degraded = condition(_model(api, pool), "Degraded")
        return degraded if degraded.get("reason") == "BuildUnschedulable" else None

    degraded = wait_for(unschedulable, "Degraded=True, BuildUnschedulable", timeout=60,
                        show=lambda: _model(api, pool).get("status"))
    assert degraded["status"] == "True"
    assert "Insufficient nvidia.com/gpu" in degraded["message"]
    wait_for(lambda: counted.append(patient_operator.metrics().get(gauge, 0.0)) or
             1.0 in counted, "the waiting build counted in /metrics", timeout=10)
    yielded = wait_for(lambda: _gpu_yields(cluster, pool), "a GpuYielded Event", timeout=60)
    assert yielded[0].startswith(f"pool {old_pool} runs 1 of 2 pods until engine ")
    assert "1 classrooms move to its other pods" in yielded[0]

    def rolled_over() -> Object | None:
        status = serving(api, pool, "attention", 2)
        if status is None or old_pool in statefulsets(api, pool):
            return None
        return status

    after = wait_for(rolled_over, "the model Ready on the new pool", timeout=TIMEOUT,
                     show=lambda: (_model(api, pool).get("status"), _gpu_yields(cluster, pool)))
    (new_engine,) = after["engines"]
    assert new_engine["fingerprint"] != old_engine["fingerprint"]
    (new_pool,) = statefulsets(api, pool)
    assert new_pool.endswith(new_engine["fingerprint"][:8])
    assert after["summary"]["pods"] == "2/2"
    assert condition(_model(api, pool), "Degraded")["status"] == "False"
    # The new pool's second pod waited for the GPU of the old pool's last pod, which gave it up.
    messages = _gpu_yields(cluster, pool)
    assert any(m.startswith(f"pool {old_pool} runs 0 of 2 pods until pool {new_pool} is ready")
               for m in messages), messages

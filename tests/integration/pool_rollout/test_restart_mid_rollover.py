"""The operator killed in the middle of a rollover picks it up from what the cluster shows: the
new pool is not created twice, the old one still goes only after its classrooms moved, and no
classroom is left without a Ready pod reporting its streams Healthy meanwhile."""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.operator_harness import OperatorProcess, apply, wait_for
from integration.pool_rollout.kit import (
    Media,
    Object,
    Watcher,
    assignments,
    manifest,
    room,
    serving,
    statefulsets,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100, driver_labels

TIMEOUT = 240


def test_killed_while_two_pools_run_side_by_side(
        cluster: LocalCluster, api: Api, pool: str, nodes: Callable[..., list[str]],
        operator: OperatorProcess, media: Media) -> None:
    (node,) = nodes(a100(f"{pool[:20]}-a100", count=2))
    rooms = ("room-101", "room-102")
    apply(cluster, pool, [manifest(media, "attention", pool,
                                   classrooms=[room(media, name) for name in rooms])])
    wait_for(lambda: serving(api, pool, "attention", 2), "2 healthy streams", timeout=TIMEOUT)
    (old_pool,) = statefulsets(api, pool)

    with Watcher(api, pool, rooms) as watcher:
        cluster.relabel_node(node, driver_labels("580.65.06"))
        sets = wait_for(lambda: (found := statefulsets(api, pool)) and len(found) == 2 and found,
                        "the new pool beside the old one", timeout=TIMEOUT)
        (new_pool,) = set(sets) - {old_pool}
        uid = sets[new_pool]["metadata"]["uid"]
        operator.kill()
        time.sleep(3)
        operator.start()

        def rolled_over() -> Object | None:
            status = serving(api, pool, "attention", 2)
            return status if status is not None and set(statefulsets(api, pool)) == \
                {new_pool} else None

        wait_for(rolled_over, "the rollover to finish after the restart", timeout=TIMEOUT)
    assert watcher.violations == [], watcher.violations[:5]
    assert watcher.unserved == [], watcher.unserved[:5]
    assert statefulsets(api, pool)[new_pool]["metadata"]["uid"] == uid
    assert assignments(api, pool) == {name: [f"{new_pool}-0"] for name in rooms}

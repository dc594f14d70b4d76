"""The operator killed (SIGKILL) at six points of its work converges each time it comes back:
no build Job is ever created twice, no status is lost, deletions finish."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from bench.operator_harness import (
    JobRecorder,
    OperatorProcess,
    apply,
    converged,
    jobs,
    model,
    model_manifest,
    models,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100, driver_labels, h100, l4


def _all_converged(api: Api, namespace: str) -> bool:
    items = models(api, namespace)
    return bool(items) and all(
        converged(item) and item["status"].get("enginesNeeded")
        and item["status"]["enginesReady"] == item["status"]["enginesNeeded"]
        for item in items)


def _needed(api: Api, namespace: str) -> set[str]:
    return {f"engine-build-{engine['fingerprint']}" for item in models(api, namespace)
            for engine in item["status"]["engines"]}


def test_killed_at_six_points_converges_without_duplicate_jobs(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(*[make(f"{stem}-{kind}-{i}", runner="kwok")
            for kind, make in (("a100", a100), ("h100", h100), ("l4", l4)) for i in range(2)])
    recorder = JobRecorder(api, pool)
    manifests = [
        model_manifest("grade-5", pool),
        model_manifest("grade-6", pool),  # the same engines as grade-5
        model_manifest("grade-7", pool, engine={"precision": "fp16"}),
        model_manifest("lab", pool, selector={"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB"}),
    ]
    process = operator(CLASSROOM_RESYNC_SECONDS="2")
    kills: list[tuple[str, int]] = []

    def kill(point: str) -> None:
        process.kill()
        kills.append((point, len(recorder.builds())))
        process.start()

    # 1. Right after start-up, while indexes fill and nothing is known yet.
    time.sleep(0.3)
    kill("start-up")
    # 2. In the middle of the first burst of Job creations.
    apply(cluster, pool, manifests)
    wait_for(lambda: recorder.builds(), "the first build Job", every=0.005)
    kill("first Job created")
    # 3. Once status writes have begun but not all engines are recorded.
    wait_for(lambda: any(converged(m) for m in models(api, pool)), "a first status",
             every=0.005)
    kill("first status written")
    wait_for(lambda: _all_converged(api, pool), "convergence after 3 kills")
    # 4. Just after a spec change (new fingerprints for grade-7), before it is reconciled.
    cluster.kubectl("patch", "classroommodel", "grade-7", "-n", pool, "--type=merge", "-p",
                    json.dumps({"spec": {"engine": {"batch": {"min": 1, "opt": 4, "max": 16}}}}))
    kill("spec changed")
    wait_for(lambda: _all_converged(api, pool), "convergence after the spec change")
    # 5. While the Jobs for a driver upgrade are being created.
    before = len(recorder.builds())
    cluster.relabel_node(f"{stem}-a100-0", driver_labels("580.65.06"))
    wait_for(lambda: len(recorder.builds()) > before, "a Job for the new driver", every=0.005)
    kill("driver upgrade")
    # 6. Just after a deletion was asked, while the finalizer is pending.
    cluster.kubectl("delete", "classroommodel", "grade-6", "-n", pool, "--wait=false")
    kill("model deleted")

    wait_for(lambda: model(api, pool, "grade-6") is None, "grade-6 deleted")
    wait_for(lambda: _all_converged(api, pool), "the final convergence")
    time.sleep(3)
    recorder.close()
    print(f"\nkilled at: {kills}")
    builds = recorder.builds()
    duplicated = {name: uids for name, uids in builds.items() if len(uids) > 1}
    assert not duplicated, f"Jobs created more than once: {duplicated}"
    # Exactly the engines still needed have Jobs: grade-7's old ones went with its old spec.
    assert {j["metadata"]["name"] for j in jobs(api, pool)} == _needed(api, pool)
    # grade-5 and grade-6 shared 3 engines, grade-7 had 3 then 3 new ones, lab shared one,
    # and the driver upgrade added one per remaining spec on the A100 driver 580.
    assert len(builds) == 3 + 3 + 3 + 2
    statuses: list[dict[str, Any]] = [m["status"] for m in models(api, pool)]
    assert sorted(m["metadata"]["name"] for m in models(api, pool)) == ["grade-5", "grade-7", "lab"]
    assert all(s["phase"] == "Ready" for s in statuses)

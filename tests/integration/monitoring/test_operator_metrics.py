"""The operator's real /metrics, two replicas under kopf peering: the leader exports the fleet
with every name the chart's dashboard and alerts use, the standby exports no model's series and
says it stands by, and after the leader dies the standby takes over the series too."""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.operator_harness import OperatorProcess, apply, model_manifest, wait_for
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import GpuNode
from monitoring.queries import (
    ENABLED,
    alert_queries,
    dashboard_queries,
    dashboards,
    exposed,
    names,
    render,
    rule_groups,
)

# Present only while a build runs, or from the first failed build (labelled by its reason) or
# the first builder's report of its time (kwok's builds report none): their names are checked
# against the operator's registry in tests/unit/monitoring.
AFTER_AN_EVENT = {"classroom_operator_oldest_build_start_timestamp_seconds",
                  "classroom_operator_builds_failed_total",
                  "classroom_operator_build_duration_seconds_bucket"}


def _page(replica: OperatorProcess) -> str:
    with urllib.request.urlopen(f"http://{replica.pod_ip}:8081/metrics", timeout=5) as reply:
        return str(reply.read().decode())


def _leader(replica: OperatorProcess) -> float | None:
    return replica.metrics().get("classroom_operator_leader")


def _model_series(replica: OperatorProcess, pool: str) -> list[str]:
    return [name for name in replica.metrics() if f'namespace="{pool}"' in name]


def _operator_names(tmp: Path) -> dict[str, set[str]]:
    """Operator metric -> labels the chart's queries use with it (labels of a query that joins
    a pod's series are the unit tests' to check)."""
    queries = alert_queries(rule_groups(render(ENABLED, tmp)))
    for dashboard in dashboards().values():
        queries += dashboard_queries(dashboard)
    used: dict[str, set[str]] = {}
    for query in queries:
        metrics, labels = names(query.expr)
        only_operator = all(m.startswith("classroom_operator_") for m in metrics)
        for metric in metrics:
            if metric.startswith("classroom_operator_"):
                used.setdefault(metric, set()).update(labels if only_operator else set())
    return used


def test_the_leader_exports_the_fleet_and_the_standby_nothing_stale(
        cluster: LocalCluster, api: Api, pool: str, stem: str, peering: str,
        nodes: Callable[..., None], operator: Callable[..., OperatorProcess],
        tmp_path: Path) -> None:
    nodes(GpuNode(f"{stem}-gpu-0", f"NVIDIA-Test-{stem}-M", runner="kwok"))
    replicas = [operator(CLASSROOM_PEERING=peering), operator(CLASSROOM_PEERING=peering)]
    wait_for(lambda: sorted(_leader(r) or 0 for r in replicas) == [0, 1],
             "one replica to lead and one to stand by")
    leader, standby = sorted(replicas, key=lambda r: -(_leader(r) or 0))
    apply(cluster, pool, [model_manifest("attention", pool)])
    ready = f'classroom_operator_engines{{model="attention",namespace="{pool}",state="Ready"}}'
    wait_for(lambda: leader.metrics().get(ready) == 1, "the leader to count the engine Ready",
             timeout=120)

    samples = leader.metrics()
    model = f'{{model="attention",namespace="{pool}"}}'
    assert samples[f"classroom_operator_max_latency_seconds{model}"] == 0.1  # the default
    assert samples[f"classroom_operator_builds_unschedulable{model}"] == 0
    assert samples[f"classroom_operator_pods_wanted{model}"] >= 0
    # Every operator metric and label the dashboard and the alerts name is on the real page.
    page = exposed(_page(leader))
    problems: list[Any] = []
    for metric, labels in _operator_names(tmp_path).items():
        if metric in AFTER_AN_EVENT:
            continue
        if metric not in page:
            problems.append(f"{metric} is not exposed")
        elif missing := labels - page[metric] - {"le", "namespace", "pod", "job", "instance"}:
            problems.append(f"{metric} lacks {sorted(missing)}")
    assert problems == [], problems
    # The standby reconciles nothing and exports no model's series.
    assert _leader(standby) == 0
    assert _model_series(standby, pool) == []

    leader.kill()
    started = time.monotonic()
    wait_for(lambda: _leader(standby) == 1 and standby.metrics().get(ready) == 1,
             "the standby to lead and export the model's series", timeout=120)
    print(f"\nthe standby led {time.monotonic() - started:.1f}s after the leader was killed")

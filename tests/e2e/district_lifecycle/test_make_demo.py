"""The whole lifecycle, as `make demo` shows it, on the session's cluster: the chart installs the
operator, a ClassroomModel goes from Building to Ready with an engine per GPU class, a pod per pool
and every stream healthy, labels and alerts reach the webhook, and a node's driver upgrade rebuilds
that class's engine and rolls its pool over with every stream served throughout."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from localcluster import demo
from localcluster.cluster import LocalCluster
from localcluster.nodes import driver_labels


@pytest.fixture
def demo_cluster(cluster: LocalCluster) -> Iterator[LocalCluster]:
    yield cluster
    cluster.kubectl("delete", "classroommodel", demo.MODEL, "-n", demo.NAMESPACE,
                    "--ignore-not-found", "--wait=true", check=False)
    cluster.helm("uninstall", demo.RELEASE, "--namespace", demo.SYSTEM_NAMESPACE, "--wait",
                 check=False)
    cluster.relabel_node(demo.UPGRADED_NODE, dict(driver_labels(demo.STARTING_DRIVER)))


def test_the_demo_goes_ready_and_rolls_over_a_driver_upgrade(
        demo_cluster: LocalCluster, capsys: pytest.CaptureFixture[str]) -> None:
    assert demo.run(demo_cluster) == 0
    printed = capsys.readouterr().out
    assert "every stream stayed assigned to a ready pod throughout" in printed
    assert "fewest streams healthy at once: 6 of 6" in printed
    assert "a teacher alert" in printed

    model = json.loads(demo_cluster.kubectl(
        "get", "classroommodel", demo.MODEL, "-n", demo.NAMESPACE, "-o", "json").stdout)
    status = model["status"]
    assert status["phase"] == "Ready"
    assert status["observedGeneration"] == model["metadata"]["generation"]
    classes = {pool["gpuClass"] for pool in status["pools"]}
    assert classes == {"nvidia-a100-sxm4-80gb-sm80-drv580", "nvidia-l4-sm89-drv550"}
    assert status["streams"] == {"assigned": 6, "healthy": 6}
    engines = {e["gpuClass"]: e for e in status["engines"]}
    assert engines["nvidia-a100-sxm4-80gb-sm80-drv580"]["state"] == "Ready"
    assert "nvidia-a100-sxm4-80gb-sm80-drv550" not in {
        pool["gpuClass"] for pool in status["pools"]}

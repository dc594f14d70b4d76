"""The operator as real processes in a namespace of their own, kwok GPU nodes of a pool only
the test's models select, and a ClusterKopfPeering for leader election."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from integration.operator_namespace import api, nodes, operator, pool, stem
from localcluster.cluster import LocalCluster

__all__ = ["api", "nodes", "operator", "peering", "pool", "stem"]


@pytest.fixture
def peering(cluster: LocalCluster, pool: str) -> Iterator[str]:
    name = f"classroom-{pool}"
    cluster.kubectl("apply", "-f", "-", input=json.dumps(
        {"apiVersion": "kopf.dev/v1", "kind": "ClusterKopfPeering", "metadata": {"name": name}}))
    yield name
    cluster.kubectl("delete", "clusterkopfpeering", name, "--wait=false", check=False)

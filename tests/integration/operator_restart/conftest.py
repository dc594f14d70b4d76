"""A namespace for the operator, kwok GPU nodes of its own pool, and operator processes that
the tests kill and restart."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from bench.operator_harness import POOL_LABEL, OperatorFleet, OperatorProcess, prepare_namespace
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import GpuNode


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[Api]:
    client = cluster.api()
    yield client
    client.close()


@pytest.fixture
def pool(cluster: LocalCluster, namespace: str) -> str:
    prepare_namespace(cluster, namespace)
    return namespace


@pytest.fixture
def stem(pool: str) -> str:
    """A short prefix for the test's node names, unique to this test run (the namespace's
    random suffix): a node name reused right after its removal can lose its pods."""
    return f"{pool[:12].rstrip('-')}-{pool[-6:]}"


@pytest.fixture
def nodes(cluster: LocalCluster, pool: str) -> Iterator[Callable[..., None]]:
    added: list[str] = []

    def add(*new: GpuNode) -> None:
        labelled = [replace(node, labels={**node.labels, POOL_LABEL: pool}) for node in new]
        added.extend(node.name for node in labelled)
        cluster.add_nodes(*labelled)

    yield add
    cluster.remove_nodes(*added)


@pytest.fixture
def operator(cluster: LocalCluster, pool: str, api: Api,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., OperatorProcess]]:
    fleet = OperatorFleet(cluster, pool, api, tmp_path_factory.mktemp("operator"))
    yield fleet.start
    fleet.close()

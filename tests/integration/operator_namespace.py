"""Fixtures shared by the folders that run the operator in a namespace of its own (engine
lifecycle, operator restarts, pool rollouts): a client of the local API, the namespace made
ready for the operator, and kwok or agent nodes of a pool only the test's models select.
Each folder's conftest imports the ones it uses."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace

import pytest
from bench.operator_harness import POOL_LABEL, OperatorFleet, OperatorProcess, prepare_namespace
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import CpuNode, GpuNode


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[Api]:
    client = cluster.api()
    yield client
    client.close()


@pytest.fixture
def pool(cluster: LocalCluster, namespace: str) -> str:
    """The operator's namespace, ready (CRDs, engine store), where the models and their pools
    live too; also the label value of the test's nodes."""
    prepare_namespace(cluster, namespace)
    return namespace


@pytest.fixture
def stem(pool: str) -> str:
    """A short prefix for the test's node names, unique to this test run (the namespace's
    random suffix): a node name reused right after its removal can lose its pods."""
    return f"{pool[:12].rstrip('-')}-{pool[-6:]}"


@pytest.fixture
def nodes(cluster: LocalCluster, pool: str) -> Iterator[Callable[..., list[str]]]:
    """`nodes(*gpu_or_cpu_nodes)`: add nodes labelled with the test's pool, get their names;
    removed afterwards."""
    added: list[str] = []

    def add(*new: GpuNode | CpuNode) -> list[str]:
        labelled = [replace(node, labels={**node.labels, POOL_LABEL: pool}) for node in new]
        added.extend(node.name for node in labelled)
        cluster.add_nodes(*labelled)
        return [node.name for node in labelled]

    yield add
    cluster.remove_nodes(*added)


@pytest.fixture
def operator(cluster: LocalCluster, pool: str, api: Api,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., OperatorProcess]]:
    """`operator(**env)`: start `classroom-operator run` for this namespace (as often as a
    test needs replicas or restarts); at the end every ClassroomModel is deleted while it still
    runs (its finalizer), then it stops."""
    fleet = OperatorFleet(cluster, pool, api, tmp_path_factory.mktemp("operator"))
    yield fleet.start
    fleet.close()

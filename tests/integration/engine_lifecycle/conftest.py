"""The operator as a real process in a fresh namespace, kwok GPU nodes of a pool only its models
select, and cleanup that leaves no ClassroomModel, node or operator behind."""

from __future__ import annotations

import hashlib
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
    """The operator's namespace, ready (CRDs, engine store); also the label value of its nodes."""
    prepare_namespace(cluster, namespace)
    return namespace


@pytest.fixture
def stem(pool: str) -> str:
    """A short prefix for the test's node names, unique to this test run (the namespace's
    random suffix): a node name reused right after its removal can lose its pods."""
    return f"{pool[:12].rstrip('-')}-{pool[-6:]}"


@pytest.fixture
def nodes(cluster: LocalCluster, pool: str) -> Iterator[Callable[..., None]]:
    """`nodes(*gpu_or_cpu_nodes)`: add nodes labelled with the test's pool; removed afterwards."""
    added: list[str] = []

    def add(*new: GpuNode | CpuNode) -> None:
        labelled = [replace(node, labels={**node.labels, POOL_LABEL: pool}) for node in new]
        added.extend(node.name for node in labelled)
        cluster.add_nodes(*labelled)

    yield add
    cluster.remove_nodes(*added)


@pytest.fixture
def operator(cluster: LocalCluster, pool: str, api: Api,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., OperatorProcess]]:
    """`operator(**env)`: start `classroom-operator run` for this namespace; at the end every
    ClassroomModel is deleted while it still runs (its finalizer), then it stops."""
    fleet = OperatorFleet(cluster, pool, api, tmp_path_factory.mktemp("operator"))
    yield fleet.start
    fleet.close()


@pytest.fixture
def reference_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    """The builder's reference model (48x48) on disk: its file:// URI and sha256. Pods on the
    agent's nodes are local processes, so they read it where it is."""
    from classroom_inference.builder.reference_model import reference_model as make

    path = tmp_path_factory.mktemp("models") / "reference-48.onnx"
    data = make(48, 3).SerializeToString()
    path.write_bytes(data)
    return path.as_uri(), hashlib.sha256(data).hexdigest()


@pytest.fixture
def builder_node(stem: str, nodes: Callable[..., None]) -> str:
    """A CPU node of the pool run by the node agent: build Jobs there run the real builder."""
    name = f"{stem}-cpu"
    nodes(CpuNode(name, runner="agent"))
    return name

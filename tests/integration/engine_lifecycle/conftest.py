"""The operator as a real process in a fresh namespace, kwok GPU nodes of a pool only its models
select, and cleanup that leaves no ClassroomModel, node or operator behind."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

import pytest
from integration.operator_namespace import api, nodes, operator, pool, stem
from localcluster.nodes import CpuNode

__all__ = ["api", "builder_node", "nodes", "operator", "pool", "reference_model", "stem"]


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

"""The operator as a real process, agent nodes that really run the build Jobs and the inference
pods (`classroom-inference build` and `serve` as local processes with 127.x pod IPs), the small
reference model and a looping test video, all made at test time."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
from bench.operator_harness import OperatorProcess, running_operator
from classroom_inference.builder.reference_model import reference_model, reference_spec
from integration.operator_namespace import api, nodes, pool
from integration.pool_rollout.kit import Media
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from streams.videos import pattern_video

SIZE = 32
__all__ = ["api", "nodes", "pool"]  # shared fixtures; this folder's own follow


@pytest.fixture
def operator(cluster: LocalCluster, pool: str, api: Api,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[OperatorProcess]:
    """`classroom-operator run` for the test's namespace; models deleted before it stops."""
    yield from running_operator(cluster, api, pool, tmp_path_factory.mktemp("operator"),
                                CLASSROOM_RESYNC_SECONDS="5")


@pytest.fixture(scope="session")
def media(tmp_path_factory: pytest.TempPathFactory) -> Media:
    folder = tmp_path_factory.mktemp("rollout-media")
    onnx_path = folder / "attention.onnx"
    onnx_path.write_bytes(reference_model(SIZE).SerializeToString())
    sha256 = hashlib.sha256(onnx_path.read_bytes()).hexdigest()
    video = pattern_video(folder / "camera.mp4", seconds=2, fps=5, width=64, height=64)
    return Media(model=reference_spec(onnx_path.as_uri(), sha256, SIZE),
                 video=f"{video.as_uri()}?loop=1")

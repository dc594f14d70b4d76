"""Shared fixtures. Each test's tier marker comes from the folder it lives in."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from localcluster.processes import ComponentFailed
from localcluster.toolchain import ToolchainError

if TYPE_CHECKING:  # the GPU machine runs tests/gpu without the operator's packages
    from kubernetes.client import ApiClient
    from localcluster.cluster import LocalCluster

TIERS = ("unit", "integration", "e2e", "gpu", "bench")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark each test with its tier, and run the tiers in order: the whole-lifecycle tests come
    after the integration tests, which share their cluster and expect its nodes as started."""
    root = Path(__file__).parent

    def tier(item: pytest.Item) -> str | None:
        parts = Path(item.path).relative_to(root).parts
        return parts[0] if parts and parts[0] in TIERS else None

    for item in items:
        if (name := tier(item)) is not None:
            item.add_marker(getattr(pytest.mark, name))
    items.sort(key=lambda item: TIERS.index(name) if (name := tier(item)) else len(TIERS))


# -- the local cluster -------------------------------------------------------------------------
# One real control plane per test session (etcd, kube-apiserver, controller-manager, scheduler,
# kwok, the volume provisioner and the node agent), with two GPU classes of agent nodes:
# "gpu-a100-0" (A100, driver 550) and "gpu-l4-0" (L4, driver 550).


@pytest.fixture(scope="session")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """The session's local cluster; stopped at the end, leaving no process behind.

    Set CLASSROOM_TEST_CLUSTER=<kubeconfig> (the path `make -s kubeconfig` prints after
    `make cluster-up`) to run against a cluster that is already up and save its start-up time;
    that cluster is left running. A component that crashed fails the fixture with its log tail.
    """
    from localcluster.cluster import LocalCluster

    attached = os.environ.get("CLASSROOM_TEST_CLUSTER")
    if attached:
        try:
            yield LocalCluster.attach(Path(attached))
        except (ValueError, ComponentFailed) as error:
            pytest.fail(f"CLASSROOM_TEST_CLUSTER={attached}: {error}", pytrace=False)
        return
    local = LocalCluster(tmp_path_factory.mktemp("cluster"))
    try:
        local.start()
    except (ComponentFailed, ToolchainError) as failure:
        pytest.fail(f"the local cluster did not start: {failure}", pytrace=False)
    try:
        yield local
        local.check_alive()
    except ComponentFailed as failure:
        pytest.fail(f"a local cluster component crashed: {failure}", pytrace=False)
    finally:
        local.stop()


@pytest.fixture
def kubectl(cluster: LocalCluster) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`kubectl(*args, input=None, check=True)` as the cluster's admin."""
    return cluster.kubectl


@pytest.fixture
def namespace(cluster: LocalCluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, ready for pods (its default ServiceAccount exists)."""
    try:
        cluster.check_alive()
    except ComponentFailed as failure:
        pytest.fail(f"a local cluster component crashed: {failure}", pytrace=False)
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", name)
    api = cluster.api()
    deadline = time.monotonic() + 30
    while api.get_or_none(f"/api/v1/namespaces/{name}/serviceaccounts/default") is None:
        if time.monotonic() > deadline:
            pytest.fail(f"namespace {name}: no default ServiceAccount after 30s", pytrace=False)
        time.sleep(0.1)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture
def api(cluster: LocalCluster) -> Iterator[ApiClient]:
    """A `kubernetes` ApiClient as the cluster's admin."""
    client = cluster.api_client()
    yield client
    client.close()

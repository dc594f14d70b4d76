"""Fixtures for installing the chart onto the real control plane: a namespace enforcing the
`restricted` Pod Security Standard and a release of the chart in it, run by the node agent."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator

import pytest
from integration.chart.release import Release
from localcluster.cluster import LocalCluster


def restricted(cluster: LocalCluster, namespace: str) -> None:
    cluster.kubectl("label", "namespace", namespace,
                    "pod-security.kubernetes.io/enforce=restricted",
                    "pod-security.kubernetes.io/enforce-version=latest")


@pytest.fixture(scope="module")
def installed(cluster: LocalCluster) -> Iterator[Release]:
    """The chart installed once for a module's read-only checks, uninstalled afterwards."""
    namespace = f"chart-{secrets.token_hex(3)}"
    cluster.kubectl("create", "namespace", namespace)
    restricted(cluster, namespace)
    release = Release(cluster, namespace)
    release.helm("install")
    try:
        yield release
    finally:
        release.uninstall()
        cluster.kubectl("delete", "namespace", namespace, "--wait=false", check=False)


@pytest.fixture
def release(cluster: LocalCluster, namespace: str) -> Iterator[Release]:
    """A release for one test to install, upgrade and uninstall itself in a restricted
    namespace; whatever the test left is uninstalled afterwards."""
    restricted(cluster, namespace)
    release = Release(cluster, namespace)
    yield release
    release.uninstall()


@pytest.fixture
def unfinalized(cluster: LocalCluster) -> Iterator[Callable[[str, str], None]]:
    """`unfinalized(namespace, name)`: after the test, drop that ClassroomModel's finalizers and
    delete it, so no namespace waits on an operator that is gone."""
    models: list[tuple[str, str]] = []
    yield lambda namespace, name: models.append((namespace, name))
    for namespace, name in models:
        cluster.kubectl("patch", "cmodel", name, "-n", namespace, "--type=merge",
                        "-p", '{"metadata": {"finalizers": null}}', check=False)
        cluster.kubectl("delete", "cmodel", name, "-n", namespace, "--wait=false", check=False)

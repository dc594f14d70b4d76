"""Fixtures for admission tests: this repository's CRDs, installed once per session on the real
control plane."""

from __future__ import annotations

from pathlib import Path

import pytest
from localcluster.cluster import LocalCluster

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="session")
def crds(cluster: LocalCluster) -> None:
    """Apply crds/ (server-side, so a re-run updates them) and wait until they are served."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    names = [f"crd/{path.name.removesuffix('.yaml')}" for path in (REPO / "crds").glob("*.yaml")]
    cluster.kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)

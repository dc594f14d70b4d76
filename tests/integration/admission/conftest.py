"""Fixtures for admission tests: kubectl against the real control plane, with this repository's
CRDs installed once per session."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from localcluster.toolchain import ensure_binaries

REPO = Path(__file__).resolve().parents[3]

Kubectl = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def kubectl(cluster: Any) -> Kubectl:
    """Run kubectl as the cluster's admin; `stdin` may be a dict, sent as JSON."""
    binary = str(ensure_binaries().kubectl)

    def run(*args: str,
            stdin: dict[str, Any] | str | None = None) -> subprocess.CompletedProcess[str]:
        text = json.dumps(stdin) if isinstance(stdin, dict) else stdin
        return subprocess.run([binary, "--kubeconfig", str(cluster.kubeconfig), *args],
                              input=text, capture_output=True, text=True, timeout=60)

    return run


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> None:
    """Apply crds/ (server-side, so a re-run updates them) and wait until they are served."""
    applied = kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    assert applied.returncode == 0, applied.stderr
    names = [f"crd/{path.name.removesuffix('.yaml')}" for path in (REPO / "crds").glob("*.yaml")]
    ready = kubectl("wait", "--for=condition=Established", "--timeout=60s", *names)
    assert ready.returncode == 0, ready.stderr

"""The CLI people use (`python -m localcluster ...`, wrapped by the Makefile) on a running
cluster and on one that is not running."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from localcluster.cluster import LocalCluster

TESTS = Path(__file__).resolve().parents[2]


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localcluster", *args], cwd=TESTS,
                          capture_output=True, text=True, timeout=120)


def test_kubeconfig_and_status_of_a_running_cluster(cluster: LocalCluster) -> None:
    printed = cli("--state", str(cluster.state), "kubeconfig")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout.strip() == str(cluster.kubeconfig)
    status = cli("--state", str(cluster.state), "status")
    assert status.returncode == 0, status.stderr
    assert "gpu-a100-0" in status.stdout and "NVIDIA-L4" in status.stdout


def test_kubeconfig_without_a_cluster_says_how_to_start_one(tmp_path: Path) -> None:
    printed = cli("--state", str(tmp_path / "none"), "kubeconfig")
    assert printed.returncode == 1
    assert printed.stdout == ""
    assert "no local cluster is running; start one with `make cluster-up`" in printed.stderr


def test_unknown_preset_is_refused_with_the_choices(cluster: LocalCluster) -> None:
    added = cli("--state", str(cluster.state), "nodes", "add", "v100", "gpu-v100-0")
    assert added.returncode != 0
    assert "preset 'v100' is unknown; use one of a100, h100, l4, t4, cpu" in added.stderr
    assert "gpu-v100-0" not in cluster.kubectl("get", "nodes", "-o", "name").stdout

"""A release of the chart on the local cluster: install or upgrade it with the local defaults,
wait for the operator to become ready, uninstall it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from localcluster.cluster import LocalCluster

CHART = Path(__file__).resolve().parents[3] / "helm" / "classroom-operator"
RELEASE = "classroom-operator"
ROLLOUT_SECONDS = 240


@dataclass(frozen=True)
class Release:
    """One release of the chart; its objects are named `name` (the chart's full name)."""

    cluster: LocalCluster
    namespace: str
    name: str = RELEASE

    @property
    def service_account(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"

    def helm(self, command: str, **values: dict[str, Any]) -> str:
        """`helm install` or `helm upgrade` with the local defaults plus `values` (one dict per
        top-level key, merged into the defaults)."""
        # The local default: every backend on the CPU, and a peering of its own so releases of
        # other tests never elect each other.
        merged: dict[str, dict[str, Any]] = {
            "engines": {"gpuBackend": "onnxruntime-cpu"},
            "operator": {"peering": self.namespace},
        }
        for key, value in values.items():
            merged.setdefault(key, {}).update(value)
        done = self.cluster.helm(command, self.name, str(CHART), "--namespace", self.namespace,
                                 "--values", "-", input=json.dumps(merged))
        return done.stdout

    def rollout(self) -> None:
        done = self.cluster.kubectl("rollout", "status", f"deployment/{self.name}",
                                    "-n", self.namespace, f"--timeout={ROLLOUT_SECONDS}s",
                                    check=False, timeout=ROLLOUT_SECONDS + 30)
        if done.returncode != 0:
            events = self.cluster.kubectl("get", "events", "-n", self.namespace,
                                          "--sort-by=.lastTimestamp", check=False).stdout
            pytest.fail(f"the operator did not become ready: {done.stderr}\n{events[-3000:]}")

    def uninstall(self) -> None:
        self.cluster.helm("uninstall", self.name, "--namespace", self.namespace, "--wait",
                          check=False)

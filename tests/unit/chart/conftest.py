"""Fixtures for checking the Helm chart offline: the pinned helm binary and `helm template` of the
chart with a set of values."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.toolchain import KUBERNETES_VERSION, ensure_binaries

REPO = Path(__file__).resolve().parents[3]
CHART = REPO / "helm" / "classroom-operator"
RELEASE = "classroom"
NAMESPACE = "classroom-system"


@dataclass(frozen=True)
class Manifests:
    """The objects one `helm template` rendered."""

    objects: list[dict[str, Any]]

    def all(self, kind: str) -> list[dict[str, Any]]:
        return [obj for obj in self.objects if obj["kind"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        found = self.all(kind)
        assert len(found) == 1, f"expected one {kind}, rendered {len(found)}"
        return found[0]

    @property
    def operator(self) -> dict[str, Any]:
        """The operator Deployment's pod spec."""
        spec: dict[str, Any] = self.one("Deployment")["spec"]["template"]["spec"]
        return spec

    @property
    def container(self) -> dict[str, Any]:
        containers: list[dict[str, Any]] = self.operator["containers"]
        assert len(containers) == 1
        return containers[0]

    @property
    def env(self) -> dict[str, Any]:
        """Env name -> its value, or its valueFrom for downward-API entries."""
        return {item["name"]: item.get("value", item.get("valueFrom"))
                for item in self.container["env"]}


@pytest.fixture(scope="session")
def helm() -> Path:
    return ensure_binaries().helm


@pytest.fixture
def template(helm: Path, tmp_path: Path) -> Callable[
        [dict[str, Any]], subprocess.CompletedProcess[str]]:
    """`helm template` of the chart with these values, as the raw process result."""
    counter = iter(range(1_000_000))

    def run(values: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        path = tmp_path / f"values-{next(counter)}.yaml"
        path.write_text(yaml.safe_dump(values))
        return subprocess.run(
            [str(helm), "template", RELEASE, str(CHART), "--namespace", NAMESPACE,
             "--kube-version", KUBERNETES_VERSION, "--values", str(path)],
            capture_output=True, text=True, timeout=120,
        )

    return run


@pytest.fixture
def render(template: Callable[[dict[str, Any]], subprocess.CompletedProcess[str]]) -> Callable[
        ..., Manifests]:
    """The chart rendered with these values; fails the test if helm refuses them."""

    def run(values: dict[str, Any] | None = None) -> Manifests:
        result = template(values or {})
        assert result.returncode == 0, result.stderr
        return Manifests([doc for doc in yaml.safe_load_all(result.stdout) if doc])

    return run

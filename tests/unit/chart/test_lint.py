"""`helm lint --strict` accepts the chart with its defaults and with each non-default value set."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml
from localcluster.toolchain import KUBERNETES_VERSION

CHART = Path(__file__).resolve().parents[3] / "helm" / "classroom-operator"

VALUE_SETS = {
    "defaults": {},
    "existing-claim": {"engineStore": {"existingClaim": "district-engines"}},
    "cpu-backend-one-replica": {"engines": {"gpuBackend": "onnxruntime-cpu"},
                                "operator": {"replicas": 1}},
    "own-service-account": {"serviceAccount": {"create": False, "name": "classroom-ops"}},
}


@pytest.mark.parametrize("name", VALUE_SETS)
def test_lint_strict_passes(helm: Path, tmp_path: Path, name: str) -> None:
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(VALUE_SETS[name]))
    result = subprocess.run([str(helm), "lint", "--strict", str(CHART), "--values", str(values),
                             "--kube-version", KUBERNETES_VERSION],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 chart(s) failed" in result.stdout


def test_lint_refuses_a_broken_chart(helm: Path, tmp_path: Path) -> None:
    # The check above means something only if lint can fail: a copy with a template error must.
    broken = tmp_path / "classroom-operator"
    subprocess.run(["cp", "-r", str(CHART), str(broken)], check=True)
    (broken / "templates" / "deployment.yaml").write_text("{{ .Values.operator.replicas \n")
    result = subprocess.run([str(helm), "lint", "--strict", str(broken),
                             "--kube-version", KUBERNETES_VERSION],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "deployment.yaml" in result.stdout + result.stderr

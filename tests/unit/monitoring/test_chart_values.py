"""The chart's `monitoring` values: off by default, each object on its own switch, checked by
values.schema.json so a typo fails the install naming the key."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from localcluster.toolchain import KUBERNETES_VERSION, ensure_binaries
from monitoring.queries import CHART, DASHBOARDS, render

KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}


def _template(values: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    path = tmp_path / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    return subprocess.run(
        [str(ensure_binaries().helm), "template", "classroom", str(CHART), "--namespace",
         "classroom-system", "--kube-version", KUBERNETES_VERSION, "--values", str(path)],
        capture_output=True, text=True, timeout=120)


def _dashboards(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].endswith(
        "-dashboard")]


def test_nothing_is_rendered_by_default(tmp_path: Path) -> None:
    objects = render({}, tmp_path)
    assert KINDS.isdisjoint(o["kind"] for o in objects)
    assert _dashboards(objects) == []


def test_each_switch_renders_its_object(rendered: list[dict[str, Any]]) -> None:
    kinds = {o["kind"]: o for o in rendered}
    assert kinds.keys() >= KINDS
    service = next(o for o in rendered if o["kind"] == "Service"
                   and o["metadata"]["name"].endswith("-metrics"))
    monitor = kinds["ServiceMonitor"]["spec"]
    assert monitor["selector"]["matchLabels"] == service["spec"]["selector"]
    assert monitor["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]
    assert monitor["endpoints"][0]["honorLabels"] is True
    pods = kinds["PodMonitor"]["spec"]
    assert pods["selector"]["matchLabels"]["app.kubernetes.io/component"] == "inference"
    assert pods["podMetricsEndpoints"][0] == {"port": "http", "path": "/metrics",
                                              "interval": "15s", "honorLabels": True}
    assert pods["namespaceSelector"] == {"any": True}


def test_the_dashboard_configmap_carries_the_sidecar_label_and_the_json(
        rendered: list[dict[str, Any]], tmp_path: Path) -> None:
    (configmap,) = _dashboards(rendered)
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    for path in DASHBOARDS.glob("*.json"):
        assert json.loads(configmap["data"][path.name]) == json.loads(path.read_text())
    custom = render({"monitoring": {"dashboard": {
        "enabled": True, "labels": {"grafana-dashboards": "classroom", "grafana_dashboard": None},
        "annotations": {"grafana_folder": "Classrooms"}, "namespace": "grafana"}}}, tmp_path)
    (configmap,) = _dashboards(custom)
    assert configmap["metadata"]["labels"]["grafana-dashboards"] == "classroom"
    # Helm merges maps with the defaults: null drops the default label.
    assert "grafana_dashboard" not in configmap["metadata"]["labels"]
    assert configmap["metadata"]["annotations"] == {"grafana_folder": "Classrooms"}
    assert configmap["metadata"]["namespace"] == "grafana"


def test_pod_monitor_namespaces_can_be_listed(tmp_path: Path) -> None:
    objects = render({"monitoring": {"podMonitor": {"enabled": True,
                                                    "namespaces": ["lincoln-high"]}}}, tmp_path)
    (monitor,) = [o for o in objects if o["kind"] == "PodMonitor"]
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": ["lincoln-high"]}


@pytest.mark.parametrize(("values", "named"), [
    ({"monitoring": {"serviceMonitr": {"enabled": True}}}, "serviceMonitr"),
    ({"monitoring": {"podMonitor": {"enabled": True, "intervall": "10s"}}}, "intervall"),
    ({"monitoring": {"prometheusRule": {"alerts": {"latencyFor": "ten minutes"}}}},
     "latencyFor"),
    ({"monitoring": {"prometheusRule": {"alerts": {"buildStuckMinutes": 0}}}},
     "buildStuckMinutes"),
    ({"monitoring": {"dashboard": {"labels": {"grafana_dashboard": None}}}}, "labels"),
])
def test_bad_values_are_refused_naming_the_key(values: dict[str, Any], named: str,
                                               tmp_path: Path) -> None:
    result = _template(values, tmp_path)
    assert result.returncode != 0
    assert named in result.stderr, result.stderr


def test_a_service_monitor_without_the_metrics_service_is_refused(tmp_path: Path) -> None:
    result = _template({"metrics": {"service": {"enabled": False}},
                        "monitoring": {"serviceMonitor": {"enabled": True}}}, tmp_path)
    assert result.returncode != 0
    assert "metrics.service.enabled" in result.stderr

"""helm, built from its pinned module, installs a chart into the local cluster, and the chart's
Deployment runs on the agent's nodes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from localcluster.cluster import LocalCluster

CHART = {
    "Chart.yaml": "apiVersion: v2\nname: probe\nversion: 0.1.0\n",
    "values.yaml": "message: hello from helm\n",
    "templates/deployment.yaml": """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ .Release.Name }}
spec:
  replicas: 1
  selector: {matchLabels: {app: {{ .Release.Name }}}}
  template:
    metadata: {labels: {app: {{ .Release.Name }}}}
    spec:
      containers:
      - name: main
        image: python:3.11
        command: [python, -c, "import sys, time; print(sys.argv[1], flush=True); time.sleep(600)"]
        args: [{{ .Values.message | quote }}]
""",
}


def test_helm_install_runs_the_chart(cluster: LocalCluster, namespace: str, tmp_path: Path,
                                     wait: Any) -> None:
    for relative, text in CHART.items():
        (tmp_path / "probe" / relative).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "probe" / relative).write_text(text)
    cluster.helm("install", "probe", str(tmp_path / "probe"), "-n", namespace, "--wait",
                 "--timeout", "90s", "--set", "message=installed by helm")
    status = cluster.helm("status", "probe", "-n", namespace).stdout
    assert "STATUS: deployed" in status

    def pod_log() -> str:
        pods = cluster.api().get(f"/api/v1/namespaces/{namespace}/pods",
                                 labelSelector="app=probe")["items"]
        return "".join(cluster.pod_log(namespace, p["metadata"]["name"]) for p in pods)

    wait(lambda: "installed by helm" in pod_log(), "the chart's pod to print its value")

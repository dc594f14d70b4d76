"""Admission is real: invalid objects are refused with the field named, and nothing is stored."""

from __future__ import annotations

import json

from localcluster.cluster import LocalCluster


def test_invalid_deployment_is_refused_naming_the_field(cluster: LocalCluster,
                                                        namespace: str) -> None:
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "served"},
           "spec": {"replicas": -1, "selector": {"matchLabels": {"app": "a"}},
                    "template": {"metadata": {"labels": {"app": "b"}},
                                 "spec": {"containers": [{"name": "c", "image": "i"}]}}}}
    done = cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(bad),
                           check=False)
    assert done.returncode != 0
    assert "spec.replicas" in done.stderr
    assert "spec.template.metadata.labels" in done.stderr  # selector does not match
    listed = cluster.kubectl("get", "deployments", "-n", namespace, "-o", "name")
    assert listed.stdout.strip() == ""


def test_pod_of_a_missing_service_account_is_refused(cluster: LocalCluster,
                                                     namespace: str) -> None:
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "orphan"},
           "spec": {"serviceAccountName": "nobody",
                    "containers": [{"name": "c", "image": "i", "command": ["true"]}]}}
    done = cluster.kubectl("create", "-n", namespace, "-f", "-", input=json.dumps(pod),
                           check=False)
    assert done.returncode != 0
    assert 'serviceaccount "nobody" not found' in done.stderr

"""RBAC is enforced: a service account gets what its Role grants and nothing more, both through
`kubectl auth can-i` and from inside a pod, which the node agent gives that account's identity
(a bound token in a per-pod kubeconfig)."""

from __future__ import annotations

import json
from typing import Any

from localcluster.cluster import LocalCluster

# Runs inside the pod with the venv's `kubernetes` client and the KUBECONFIG the agent gives it.
PROBE_API = """
import json, sys
from kubernetes import client, config
from kubernetes.client.rest import ApiException
config.load_kube_config()
core = client.CoreV1Api()
outcome = {}
for kind, call in (("configmaps", core.list_namespaced_config_map),
                   ("secrets", core.list_namespaced_secret)):
    try:
        call("NAMESPACE")
        outcome[kind] = 200
    except ApiException as error:
        outcome[kind] = error.status
open(sys.argv[1], "w").write(json.dumps(outcome))
"""


def objects(namespace: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "reader"}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
         "metadata": {"name": "configmap-reader"},
         "rules": [{"apiGroups": [""], "resources": ["configmaps"],
                    "verbs": ["get", "list", "watch"]}]},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding",
         "metadata": {"name": "reader"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role",
                     "name": "configmap-reader"},
         "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": namespace}]},
    ]


def test_can_i_follows_the_role(cluster: LocalCluster, namespace: str, apply: Any) -> None:
    apply(namespace, objects(namespace))
    account = f"system:serviceaccount:{namespace}:reader"

    def can(verb: str, resource: str) -> str:
        done = cluster.kubectl("auth", "can-i", verb, resource, "-n", namespace,
                               f"--as={account}", check=False)
        return done.stdout.strip()

    assert can("list", "configmaps") == "yes"
    assert can("list", "secrets") == "no"
    assert can("create", "configmaps") == "no"


def test_pod_uses_its_service_account_and_is_denied_the_rest(
        cluster: LocalCluster, namespace: str, apply: Any, wait: Any, get: Any,
        python_pod: Any) -> None:
    apply(namespace, objects(namespace))
    pod = python_pod("api-prober", PROBE_API.replace("NAMESPACE", namespace),
                     container={"args": ["/dev/termination-log"]},
                     serviceAccountName="reader")
    apply(namespace, [pod])
    done = wait(lambda: (p := get("pod", "api-prober", namespace))
                and p["status"].get("phase") in ("Succeeded", "Failed") and p,
                "the prober to finish")
    assert done["status"]["phase"] == "Succeeded", cluster.pod_log(namespace, "api-prober")
    message = done["status"]["containerStatuses"][0]["state"]["terminated"]["message"]
    assert json.loads(message) == {"configmaps": 200, "secrets": 403}


def test_pod_without_token_gets_no_kubeconfig(cluster: LocalCluster, namespace: str,
                                              apply: Any, wait: Any, get: Any,
                                              python_pod: Any) -> None:
    code = "import os, sys; open(sys.argv[1], 'w').write(os.environ.get('KUBECONFIG', '-'))"
    apply(namespace, [python_pod("no-token", code, container={"args": ["/dev/termination-log"]},
                                 automountServiceAccountToken=False)])
    done = wait(lambda: (p := get("pod", "no-token", namespace))
                and p["status"].get("phase") == "Succeeded" and p, "the pod to finish")
    assert done["status"]["containerStatuses"][0]["state"]["terminated"]["message"] == "-"

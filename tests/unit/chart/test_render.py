"""`helm template` with several value sets renders what the contracts and the restricted Pod
Security Standard ask for."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unit.chart.contract_tables import contract_env

Render = Callable[..., Any]


def test_defaults_render_every_component(render: Render) -> None:
    chart = render()
    kinds = sorted(obj["kind"] for obj in chart.objects)
    assert kinds == sorted([
        "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding",
        "PersistentVolumeClaim", "ClusterKopfPeering", "Deployment", "Service", "Pod",
        "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding",
    ])
    cluster_wide = ("ClusterRole", "ClusterRoleBinding", "ClusterKopfPeering",
                    "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding")
    namespaced = [obj for obj in chart.objects if obj["kind"] not in cluster_wide]
    assert {obj["metadata"]["namespace"] for obj in namespaced} == {"classroom-system"}


def test_operator_runs_the_console_script_with_the_contract_env(render: Render) -> None:
    chart = render()
    container = chart.container
    assert container["command"] == ["classroom-operator"]
    assert container["args"] == ["run"]
    assert set(chart.env) == set(contract_env()) | {"POD_IP"}
    assert chart.env["POD_IP"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    assert chart.env["CLASSROOM_OPERATOR_NAMESPACE"] == {
        "fieldRef": {"fieldPath": "metadata.namespace"}}
    assert chart.env["CLASSROOM_BUILDER_IMAGE"] == "classroom-inference:0.1.0-trt10.13"
    assert chart.env["CLASSROOM_TENSORRT_VERSION"] == "10.13.3"
    assert chart.env["CLASSROOM_GPU_BACKEND"] == "tensorrt"
    assert chart.env["CLASSROOM_ENGINE_STORE_CLAIM"] == "classroom-classroom-operator-engines"
    assert chart.env["CLASSROOM_PEERING"] == "classroom-operator"
    assert chart.env["CLASSROOM_ENGINE_GC_SECONDS"] == "3600"
    assert chart.env["CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS"] == "120"
    assert all(isinstance(value, str | dict) for value in chart.env.values())


def test_probes_and_ports_follow_the_contract(render: Render) -> None:
    container = render().container
    ports = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert ports == {"health": 8080, "metrics": 8081}
    for probe in ("livenessProbe", "readinessProbe"):
        assert container[probe]["httpGet"] == {"path": "/healthz", "port": "health"}


def test_pod_meets_the_restricted_pod_security_standard(render: Render) -> None:
    chart = render()
    pod, container = chart.operator, chart.container
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] != 0
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    context = container["securityContext"]
    assert context["allowPrivilegeEscalation"] is False
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert "volumes" not in pod and "volumeMounts" not in container
    assert "hostNetwork" not in pod and "hostPID" not in pod
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]


def test_engine_store_is_a_kept_read_write_many_claim(render: Render) -> None:
    claim = render({"engineStore": {"size": "200Gi", "storageClass": "nfs-client"}}).one(
        "PersistentVolumeClaim")
    assert claim["metadata"]["name"] == "classroom-classroom-operator-engines"
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "200Gi"
    assert claim["spec"]["storageClassName"] == "nfs-client"
    assert claim["metadata"]["annotations"]["helm.sh/resource-policy"] == "keep"


def test_engine_store_default_class_and_not_kept(render: Render) -> None:
    claim = render({"engineStore": {"keepOnUninstall": False}}).one("PersistentVolumeClaim")
    assert "storageClassName" not in claim["spec"]
    assert "annotations" not in claim["metadata"]


def test_existing_claim_replaces_the_chart_claim(render: Render) -> None:
    chart = render({"engineStore": {"existingClaim": "district-engines"}})
    assert chart.all("PersistentVolumeClaim") == []
    assert chart.env["CLASSROOM_ENGINE_STORE_CLAIM"] == "district-engines"


def test_replicas_and_peering(render: Render) -> None:
    chart = render({"operator": {"replicas": 3, "peering": "district-7"}})
    assert chart.one("Deployment")["spec"]["replicas"] == 3
    assert chart.one("ClusterKopfPeering")["metadata"]["name"] == "district-7"
    assert chart.env["CLASSROOM_PEERING"] == "district-7"
    assert render().one("Deployment")["spec"]["replicas"] == 2


def test_custom_backend_and_builder(render: Render) -> None:
    chart = render({
        "engines": {"gpuBackend": "onnxruntime-cuda", "gcGraceSeconds": 600,
                    "yieldGpuAfterSeconds": 30},
        "builder": {"image": "registry.example.org/classroom-inference:0.2.0-trt11.0",
                    "tensorrtVersion": "11.0.0"},
        "image": {"repository": "registry.example.org/classroom-operator", "tag": "0.2.0"},
    })
    assert chart.env["CLASSROOM_GPU_BACKEND"] == "onnxruntime-cuda"
    assert chart.env["CLASSROOM_ENGINE_GC_SECONDS"] == "600"
    assert chart.env["CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS"] == "30"
    assert chart.env["CLASSROOM_BUILDER_IMAGE"] == (
        "registry.example.org/classroom-inference:0.2.0-trt11.0")
    assert chart.env["CLASSROOM_TENSORRT_VERSION"] == "11.0.0"
    assert chart.container["image"] == "registry.example.org/classroom-operator:0.2.0"
    assert render().container["image"] == "classroom-operator:0.1.0"


def test_node_selector_tolerations_and_affinity_reach_the_pod(render: Render) -> None:
    toleration = {"key": "node-role.kubernetes.io/control-plane", "operator": "Exists",
                  "effect": "NoSchedule"}
    affinity = {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
        "weight": 100,
        "podAffinityTerm": {"topologyKey": "kubernetes.io/hostname", "labelSelector": {
            "matchLabels": {"app.kubernetes.io/name": "classroom-operator"}}}}]}}
    pod = render({"operator": {
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "tolerations": [toleration],
        "affinity": affinity,
        "priorityClassName": "system-cluster-critical",
    }}).operator
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux"}
    assert pod["tolerations"] == [toleration]
    assert pod["affinity"] == affinity
    assert pod["priorityClassName"] == "system-cluster-critical"
    assert {"nodeSelector", "tolerations", "affinity", "priorityClassName"}.isdisjoint(
        render().operator)


def test_existing_service_account(render: Render) -> None:
    chart = render({"serviceAccount": {"create": False, "name": "classroom-ops"}})
    assert chart.all("ServiceAccount") == []
    assert chart.operator["serviceAccountName"] == "classroom-ops"
    for binding in chart.all("ClusterRoleBinding") + chart.all("RoleBinding"):
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "classroom-ops",
                                        "namespace": "classroom-system"}]


def test_existing_service_account_needs_a_name(template: Callable[..., Any]) -> None:
    result = template({"serviceAccount": {"create": False}})
    assert result.returncode != 0
    assert "serviceAccount.name" in result.stderr


def test_rbac_and_metrics_service_can_be_left_out(render: Render) -> None:
    chart = render({"rbac": {"create": False}, "metrics": {"service": {"enabled": False}}})
    kinds = {obj["kind"] for obj in chart.objects}
    assert kinds.isdisjoint({"ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Service"})
    assert "Deployment" in kinds


def test_metrics_service_selects_the_operator(render: Render) -> None:
    chart = render()
    service = chart.one("Service")
    labels = chart.one("Deployment")["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"] == [{"name": "metrics", "port": 8081,
                                         "targetPort": "metrics", "protocol": "TCP"}]


def test_helm_test_pod_is_a_restricted_hook_outside_the_operator_selector(render: Render) -> None:
    chart = render()
    pod = chart.one("Pod")
    assert pod["metadata"]["annotations"]["helm.sh/hook"] == "test"
    selector = chart.one("Deployment")["spec"]["selector"]["matchLabels"]
    # A bare pod carrying the selector's labels would be adopted by the operator's ReplicaSet.
    assert not selector.items() <= pod["metadata"]["labels"].items()
    assert pod["spec"]["serviceAccountName"] == chart.operator["serviceAccountName"]
    assert pod["spec"]["securityContext"] == chart.operator["securityContext"]
    (container,) = pod["spec"]["containers"]
    assert container["securityContext"] == chart.container["securityContext"]
    script = container["args"][0]
    compile(script, "helm-test", "exec")
    assert ",".join(f"{key}={value}" for key, value in selector.items()) in script


def test_every_object_carries_the_release_labels(render: Render) -> None:
    for obj in render().objects:
        labels = obj["metadata"]["labels"]
        assert labels["app.kubernetes.io/instance"] == "classroom", obj["kind"]
        assert labels["app.kubernetes.io/managed-by"] == "Helm", obj["kind"]


def test_emotion_is_disabled_by_default_at_admission_and_in_the_operator(
        render: Render) -> None:
    chart = render()
    assert chart.env["CLASSROOM_EMOTION_POLICY"] == "disabled"
    policy = chart.one("ValidatingAdmissionPolicy")
    binding = chart.one("ValidatingAdmissionPolicyBinding")
    assert policy["apiVersion"] == binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["spec"]["policyName"] == policy["metadata"]["name"]
    assert binding["spec"]["validationActions"] == ["Deny"]
    (rule,) = policy["spec"]["matchConstraints"]["resourceRules"]
    assert rule["resources"] == ["classroommodels"]
    assert set(rule["operations"]) == {"CREATE", "UPDATE"}
    (validation,) = policy["spec"]["validations"]
    for words in ("spec.model.outputs.emotion", policy["metadata"]["name"],
                  "compliance.emotion=enabled", "Art. 5(1)(f)", "Drop the emotion head"):
        assert words in validation["message"]
    assert policy["spec"]["failurePolicy"] == "Fail"


def test_emotion_enabled_installs_no_policy(render: Render) -> None:
    chart = render({"compliance": {"emotion": "enabled"}})
    assert chart.env["CLASSROOM_EMOTION_POLICY"] == "enabled"
    assert chart.all("ValidatingAdmissionPolicy") == []
    assert chart.all("ValidatingAdmissionPolicyBinding") == []

"""The chart's class view: off by default; when on, `classroom-operator classview` under a
ServiceAccount allowed exactly what docs/class-view.md lists, behind a Service that selects only
the view's pod."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unit.chart.conftest import helm, render, template

__all__ = ["helm", "render", "template"]
Render = Callable[..., Any]
COMPONENT = "app.kubernetes.io/component"


def _classview(chart: Any, kind: str) -> list[dict[str, Any]]:
    return [o for o in chart.all(kind) if o["metadata"]["labels"].get(COMPONENT) == "classview"]


def test_the_view_is_off_until_a_school_turns_it_on(render: Render) -> None:
    chart = render()
    assert all(o["metadata"]["labels"].get(COMPONENT) != "classview" for o in chart.objects)


def test_the_view_runs_the_console_script_under_its_own_account(render: Render) -> None:
    chart = render({"classview": {"enabled": True, "accessCacheSeconds": 10}})
    (deployment,) = _classview(chart, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["command"] == ["classroom-operator"]
    assert container["args"][0] == "classview"
    assert "--access-cache-seconds=10" in container["args"]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    (account,) = _classview(chart, "ServiceAccount")
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    (binding,) = _classview(chart, "ClusterRoleBinding")
    assert binding["subjects"][0]["name"] == account["metadata"]["name"]
    (service,) = _classview(chart, "Service")
    assert service["spec"]["selector"][COMPONENT] == "classview"
    assert deployment["spec"]["selector"]["matchLabels"] == service["spec"]["selector"]


def test_the_view_may_review_people_and_read_only_the_pods_token_secret(render: Render) -> None:
    (role,) = _classview(render({"classview": {"enabled": True}}), "ClusterRole")
    grants = {(group, resource, verb, tuple(rule.get("resourceNames", ())))
              for rule in role["rules"] for group in rule["apiGroups"]
              for resource in rule["resources"] for verb in rule["verbs"]}
    assert grants == {
        ("authentication.k8s.io", "tokenreviews", "create", ()),
        ("authorization.k8s.io", "subjectaccessreviews", "create", ()),
        ("classroom-operator.io", "classroommodels", "get", ()),
        ("classroom-operator.io", "classroommodels", "list", ()),
        ("classroom-operator.io", "classrooms", "get", ()),
        ("classroom-operator.io", "classrooms", "list", ()),
        ("", "configmaps", "list", ()),
        ("", "pods", "list", ()),
        ("", "secrets", "get", ("classroom-pod-api-token",)),
    }


def test_a_misspelt_classview_key_fails_the_install(
        template: Callable[[dict[str, Any]], Any]) -> None:
    result = template({"classview": {"enable": True}})
    assert result.returncode != 0 and "enable" in result.stderr

"""The chart grants exactly the RBAC table of docs/contracts.md, none of its denied list, and says
why for every rule."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from unit.chart.contract_tables import contract_denied, contract_rbac

TEMPLATES = Path(__file__).resolve().parents[3] / "helm" / "classroom-operator" / "templates"

Render = Callable[..., Any]


def _grants(chart: Any) -> set[tuple[str, str, str]]:
    grants = set()
    for role in chart.all("ClusterRole") + chart.all("Role"):
        for rule in role["rules"]:
            assert "resourceNames" not in rule and "nonResourceURLs" not in rule
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    for verb in rule["verbs"]:
                        grants.add((group, resource, verb))
    return grants


def test_table_parses_to_the_expected_shape() -> None:
    table = contract_rbac()
    assert ("classroom-operator.io", "classroommodels/status", "patch") in table
    assert ("events.k8s.io", "events", "create") in table
    assert ("", "events", "patch") in table
    assert ("batch", "jobs", "delete") in table
    assert len(table) > 40


def test_chart_grants_exactly_the_contract_table(render: Render) -> None:
    granted = _grants(render())
    table = contract_rbac()
    assert granted - table == set(), "granted but not in docs/contracts.md"
    assert table - granted == set(), "in docs/contracts.md but not granted"
    assert not any("*" in grant for grant in granted)


def test_chart_grants_nothing_denied(render: Render) -> None:
    denied = contract_denied()
    assert ("", "secrets", "list") in denied
    assert ("classroom-operator.io", "classrooms", "patch") in denied
    assert _grants(render()) & denied == set()


def test_build_job_writes_are_limited_to_the_release_namespace(render: Render) -> None:
    chart = render()
    cluster = {(verb) for rule in chart.one("ClusterRole")["rules"]
               if rule["resources"] == ["jobs"] for verb in rule["verbs"]}
    assert cluster == {"get", "list", "watch"}
    role = chart.one("Role")
    assert role["metadata"]["namespace"] == "classroom-system"
    assert any(rule["resources"] == ["jobs"] and "create" in rule["verbs"]
               for rule in role["rules"])


def test_every_rule_says_why() -> None:
    for name in ("clusterrole.yaml", "role.yaml"):
        lines = (TEMPLATES / name).read_text().splitlines()
        rules = [index for index, line in enumerate(lines) if re.match(r"\s+- apiGroups:", line)]
        assert rules, f"{name} has no rules"
        for index in rules:
            assert lines[index - 1].strip().startswith("#"), f"{name}:{index + 1} has no why"


def test_build_logs_are_readable_in_the_release_namespace_only(render: Render) -> None:
    # Build progress reads the build pods' logs; no inference pod's log, anywhere else.
    chart = render()
    assert not any("pods/log" in rule["resources"] for rule in chart.one("ClusterRole")["rules"])
    (rule,) = [rule for rule in chart.one("Role")["rules"] if "pods/log" in rule["resources"]]
    assert (rule["apiGroups"], rule["resources"], rule["verbs"]) == ([""], ["pods/log"], ["get"])

"""The PromQL the chart ships (dashboard panels and alert rules), rendered with the pinned helm,
and the metric and label names each query uses, to check them against real /metrics pages."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from localcluster.toolchain import KUBERNETES_VERSION, ensure_binaries
from prometheus_client.parser import text_string_to_metric_families

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "helm" / "classroom-operator"
DASHBOARDS = CHART / "dashboards"
ALERT_TESTS = Path(__file__).resolve().parent / "alerts_test.yaml"
ENABLED = {"monitoring": {"serviceMonitor": {"enabled": True}, "podMonitor": {"enabled": True},
                          "prometheusRule": {"enabled": True}, "dashboard": {"enabled": True}}}
# Labels Prometheus adds to every scraped series (target labels of a ServiceMonitor or
# PodMonitor, after honorLabels), and the histogram's bucket bound.
TARGET_LABELS = frozenset({"job", "instance", "pod", "container", "endpoint", "service",
                           "namespace", "le"})
PROMQL_WORDS = frozenset({
    "by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
    "bool", "offset", "inf", "nan", "sum", "min", "max", "avg", "count", "stddev", "stdvar",
    "topk", "bottomk", "quantile", "count_values", "group"})


def render(values: dict[str, Any], tmp: Path) -> list[dict[str, Any]]:
    """`helm template` of the chart with `values`: the objects rendered."""
    path = tmp / "values.yaml"
    path.write_text(yaml.safe_dump(values))
    result = subprocess.run(
        [str(ensure_binaries().helm), "template", "classroom", str(CHART),
         "--namespace", "classroom-system", "--kube-version", KUBERNETES_VERSION,
         "--values", str(path)], capture_output=True, text=True, timeout=120, check=True)
    return [obj for obj in yaml.safe_load_all(result.stdout) if obj]


def rule_groups(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    (rule,) = [obj for obj in objects if obj["kind"] == "PrometheusRule"]
    groups: list[dict[str, Any]] = rule["spec"]["groups"]
    return groups


@dataclass(frozen=True)
class Query:
    where: str  # "alert ClassroomX" or "panel Title"
    expr: str


def alert_queries(groups: list[dict[str, Any]]) -> list[Query]:
    return [Query(f"alert {rule['alert']}", rule["expr"])
            for group in groups for rule in group["rules"]]


def dashboard_queries(dashboard: dict[str, Any]) -> list[Query]:
    found = [Query(f"panel {panel['title']}", target["expr"])
             for panel in dashboard["panels"] for target in panel.get("targets", [])]
    found += [Query(f"variable {var['name']}", var["definition"])
              for var in dashboard["templating"]["list"] if var.get("type") == "query"]
    return found


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(DASHBOARDS.glob("*.json"))}


_GRAFANA_VARIABLE = re.compile(r"\$\{?(\w+)\}?")
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_MATCHERS = re.compile(r"\{([^{}]*)\}")
_MATCHER_LABEL = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^()]*)\)")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(\s*\()?")


def names(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) that a PromQL expression uses. Grafana's variables count
    as values; `label_values(metric, label)` names both."""
    text = expr
    function_call = re.fullmatch(r"\s*label_values\(\s*(.*?)\s*,\s*(\w+)\s*\)\s*", text)
    extra_labels: set[str] = set()
    if function_call:
        text, label = function_call.groups()
        extra_labels.add(label)
    text = _GRAFANA_VARIABLE.sub("5m", text)
    labels = set(extra_labels)
    for block in _MATCHERS.findall(_STRING.sub('""', text)):
        labels |= set(_MATCHER_LABEL.findall(block))
    text = _STRING.sub('""', text)
    for group in _GROUPING.findall(text):
        labels |= {name.strip() for name in group.split(",") if name.strip()}
    text = _GROUPING.sub(" ", text)
    text = _MATCHERS.sub(" ", text)
    text = _RANGE.sub(" ", text)
    metrics = {name for name, call in _IDENTIFIER.findall(text)
               if not call and name.lower() not in PROMQL_WORDS
               and not re.fullmatch(r"\d+[smhdwy]", name)}
    return metrics, labels


def exposed(text: str) -> dict[str, set[str]]:
    """A /metrics page's sample names (with _total, _bucket, ...) and each one's label names."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found


def unknown_names(queries: list[Query], pages: dict[str, set[str]]) -> list[str]:
    """What the queries name that no page exposes: one line per problem."""
    problems = []
    for query in queries:
        metrics, labels = names(query.expr)
        if not metrics:
            problems.append(f"{query.where}: no metric found in {query.expr!r}")
        for metric in sorted(metrics - pages.keys()):
            problems.append(f"{query.where}: metric {metric} is not exposed")
        known = set(TARGET_LABELS)
        for metric in metrics & pages.keys():
            known |= pages[metric]
        for label in sorted(labels - known):
            problems.append(f"{query.where}: label {label} is on none of {sorted(metrics)}")
    return problems

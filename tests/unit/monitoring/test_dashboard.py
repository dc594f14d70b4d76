"""The Grafana dashboard's JSON: loadable, every panel on the data source variable, a layout
without overlaps, and the panels the platform team looks for."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from monitoring.queries import dashboard_queries, dashboards, names

DASHBOARDS = dashboards()


@pytest.fixture(params=sorted(DASHBOARDS))
def dashboard(request: pytest.FixtureRequest) -> dict[str, Any]:
    return DASHBOARDS[request.param]


def test_there_is_a_dashboard() -> None:
    assert DASHBOARDS


def test_panels_have_unique_ids_and_do_not_overlap(dashboard: dict[str, Any]) -> None:
    panels = dashboard["panels"]
    ids = [panel["id"] for panel in panels]
    assert len(ids) == len(set(ids))
    cells: dict[tuple[int, int], str] = {}
    for panel in panels:
        box = panel["gridPos"]
        assert box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in cells, f"{panel['title']} overlaps {cells[(x, y)]}"
                cells[(x, y)] = panel["title"]


def test_every_query_uses_the_datasource_variable(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]
        refs = [target["refId"] for target in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
    variables = {var["name"]: var for var in dashboard["templating"]["list"]}
    assert variables["datasource"]["query"] == "prometheus"


def test_the_fleet_and_pod_views_are_there(dashboard: dict[str, Any]) -> None:
    used = set()
    for query in dashboard_queries(dashboard):
        used |= names(query.expr)[0]
    for metric in ("classroom_operator_engines", "classroom_operator_builds_failed_total",
                   "classroom_operator_build_duration_seconds_bucket",
                   "classroom_operator_pools", "classroom_operator_streams_healthy",
                   "classroom_operator_streams_assigned", "classroom_crops_total",
                   "classroom_batch_size_sum", "classroom_stage_seconds_bucket",
                   "classroom_crops_dropped_total", "classroom_spool_bytes"):
        assert metric in used, metric


def test_per_model_panels_filter_on_namespace_and_model(dashboard: dict[str, Any]) -> None:
    for query in dashboard_queries(dashboard):
        metrics, labels = names(query.expr)
        per_model = [m for m in metrics if not m.startswith(
            ("classroom_operator_builds_", "classroom_operator_build_duration",
             "classroom_operator_reconcile", "classroom_operator_queue",
             "classroom_operator_api", "classroom_operator_leader"))]
        if per_model and query.where.startswith("panel"):
            assert {"namespace", "model"} <= labels, query


# Grafana's dashboard linter (github.com/grafana/dashboard-linter) cannot be fetched here (the
# Go module proxy refuses it), so the rules of it that apply are checked below: queries are valid
# PromQL, every panel has a description and a unit, rates use $__rate_interval.
SLOW_WINDOWS = {"Build duration"}  # builds are minutes apart: a 6 h window, on purpose


def _as_promql(expr: str) -> str:
    """A panel's query with Grafana's variables given values Prometheus accepts."""
    return (expr.replace("$__rate_interval", "5m").replace("$namespace", ".*")
            .replace("$model", ".*"))


def test_every_query_is_valid_promql(dashboard: dict[str, Any], promtool: Path,
                                     tmp_path: Path) -> None:
    rules = [{"record": f"dashboard:query{i}:check", "expr": _as_promql(query.expr)}
             for i, query in enumerate(dashboard_queries(dashboard))
             if not query.where.startswith("variable")]
    (tmp_path / "queries.yaml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([str(promtool), "check", "rules", "queries.yaml"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout


def test_panels_have_a_description_and_a_unit(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        if panel["type"] != "row":
            assert panel["description"], panel["title"]
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]


def test_rates_use_the_rate_interval(dashboard: dict[str, Any]) -> None:
    for panel in dashboard["panels"]:
        for target in panel.get("targets", []):
            for window in re.findall(r"\b(?:rate|increase)\([^\[]*\[([^\]]+)\]",
                                     target["expr"]):
                assert window == "$__rate_interval" or panel["title"] in SLOW_WINDOWS, \
                    (panel["title"], target["expr"])

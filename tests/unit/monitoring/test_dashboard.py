"""The Grafana dashboard's JSON: loadable, every panel on the data source variable, a layout
without overlaps, and the panels the platform team looks for."""

from __future__ import annotations

from typing import Any

import pytest
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

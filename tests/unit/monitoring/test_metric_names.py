"""Every metric and label the dashboard and the alerts name exists on a real /metrics page: the
operator's metrics served over HTTP after each of its recorders ran, and a real inference pod
(the serving app on the CPU backend with a tiny engine) serving a synthetic stream."""

from __future__ import annotations

import asyncio
import re
import socket
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from classroom_operator.metrics import Metrics, RolloutFigures
from monitoring.queries import (
    REPO,
    Query,
    alert_queries,
    dashboard_queries,
    dashboards,
    exposed,
    rule_groups,
    unknown_names,
)
from unit.pod_http.conftest import Harness, assignment, synthetic


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def operator_page() -> str:
    """The operator's /metrics after one of everything it records."""
    metrics = Metrics()
    metrics.set_leader(True)
    metrics.record_rollout("school", "attention", RolloutFigures(
        pools=1, pods_wanted=2, pods_ready=1, streams_assigned=40, streams_healthy=38,
        handovers=1, moves=[("room-101", "attention-0")]))
    metrics.record_engines("school", "attention", [("aaaa", "Ready"), ("bbbb", "Building")])
    metrics.set_builds_unschedulable("school", "attention", 1)
    metrics.set_max_latency("school", "attention", 100)
    metrics.builds_started.labels("nvidia-h100").inc()
    metrics.builds_succeeded.labels("nvidia-h100").inc()
    metrics.builds_failed.labels("nvidia-h100", "ValidationFailed").inc()
    metrics.build_seconds.labels("nvidia-h100").observe(420)
    metrics.api_requests.labels("POST", "jobs", "201").inc()
    metrics.reconcile_seconds.observe(0.01)
    port = _free_port()
    metrics.serve("127.0.0.1", port)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        return str(reply.read().decode())


async def _until(check: Callable[[], Awaitable[bool]], what: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.1)


@pytest.fixture
async def pod_page(tmp_path: Path) -> Any:
    """A pod's /metrics once its stream's crops were labelled."""
    harness = Harness(tmp_path)
    try:
        harness.write(assignment({"s0": synthetic("a")}))
        client = await harness.open()
        assert harness.pod is not None
        await harness.pod.start()

        async def labelled() -> bool:
            text = await (await client.get("/metrics")).text()
            return 'stage="label"' in text and "classroom_crops_total" in text

        await _until(labelled, "the pod's first labels")
        yield await (await client.get("/metrics")).text()
    finally:
        await harness.close()


def _queries(groups: list[dict[str, Any]]) -> list[Query]:
    found = alert_queries(groups)
    for dashboard in dashboards().values():
        found += dashboard_queries(dashboard)
    return found


async def test_dashboard_and_alerts_name_only_what_the_components_expose(
        pod_page: str, rendered: list[dict[str, Any]]) -> None:
    pages = {**exposed(operator_page()), **exposed(pod_page)}
    problems = unknown_names(_queries(rule_groups(rendered)), pages)
    assert problems == []


async def test_pod_and_operator_label_a_model_alike(pod_page: str) -> None:
    operator = exposed(operator_page())
    pod = exposed(pod_page)
    assert {"namespace", "model"} <= operator["classroom_operator_streams_healthy"]
    for name in ("classroom_crops_total", "classroom_stage_seconds_bucket",
                 "classroom_spool_bytes", "classroom_frames_decoded_total"):
        assert {"namespace", "model", "fingerprint"} <= pod[name], name
    assert 'model="attention"' in pod_page and 'namespace="school"' in pod_page
    assert "school/attention" not in pod_page
    assert "classroom_frames_per_second" not in pod_page  # a counter replaced the rate gauge


async def test_a_misspelt_metric_would_be_caught(pod_page: str,
                                                 rendered: list[dict[str, Any]]) -> None:
    pages = {**exposed(operator_page()), **exposed(pod_page)}
    wrong = [Query("alert Mutated", q.expr.replace("classroom_spool_bytes", "classroom_spool_byte"))
             for q in alert_queries(rule_groups(rendered)) if "classroom_spool_bytes" in q.expr]
    assert wrong
    assert any("classroom_spool_byte is not exposed" in p for p in unknown_names(wrong, pages))


async def test_docs_describe_every_metric(pod_page: str) -> None:
    docs = (REPO / "docs" / "observability.md").read_text()
    families = {**exposed(operator_page()), **exposed(pod_page)}
    undocumented = set()
    for sample in families:
        if sample.endswith("_created"):  # the client's creation time of each counter
            continue
        family = re.sub(r"_(bucket|sum|count)$", "", sample)
        if f"`{family}`" not in docs and f"`{sample}`" not in docs:
            undocumented.add(family)
    assert undocumented == set()

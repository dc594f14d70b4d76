"""The chart ships crds/ unchanged: its copy must be byte-identical to the top-level crds/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def test_chart_crds_equal_the_source() -> None:
    source = {path.name: path.read_bytes() for path in (REPO / "crds").glob("*.yaml")}
    chart = {path.name: path.read_bytes()
             for path in (REPO / "helm" / "classroom-operator" / "crds").glob("*.yaml")}
    assert source, "crds/ holds no CRD"
    assert sorted(chart) == sorted(source), "the chart's crds/ lists other files than crds/"
    drifted = [name for name in source if chart[name] != source[name]]
    assert not drifted, f"copy crds/ into helm/classroom-operator/crds/: {drifted} differ"

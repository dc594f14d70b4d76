"""The builder's throughput across repeated builds, as a bench-tier test: figures printed and in
bench-results/builder_throughput.json (a benchmark: it measures, it sets no time limit)."""

from __future__ import annotations

import json

from bench.builder_throughput import BUILDS, ROOT, run


def test_builder_throughput_across_builds() -> None:
    out = ROOT / "bench-results" / "builder_throughput.json"
    report = run(out)
    assert json.loads(out.read_text())["spreadAcrossBuilds"] == report["spreadAcrossBuilds"]
    assert len(report["builds"]) == BUILDS
    assert all(v > 0 for row in report["builds"] for v in row["throughput"].values())

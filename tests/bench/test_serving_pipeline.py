"""The serving benchmark as a bench-tier test: CPU backend, figures printed, JSON and plot."""

from __future__ import annotations

import json

from bench.serving_pipeline import ROOT, main


def test_serving_figures() -> None:
    out = ROOT / "bench-results" / "serving_cpu_64.json"
    assert main(["--size", "64", "--batch", "32", "--seconds", "3", "--rounds", "2",
                 "--streams", "8,16,24,32,40,48,56", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert doc["rawRunner"]["cropsPerSecond"] > 0 and doc["saturated"]["cropsPerSecond"] > 0
    assert 0 < doc["efficiency"] <= 1.2
    assert [p["streams"] for p in doc["sweep"]] == [8, 16, 24, 32, 40, 48, 56]
    assert all(p["latencyMs"]["p99"] >= p["latencyMs"]["p50"] > 0 for p in doc["sweep"])

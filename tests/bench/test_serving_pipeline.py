"""The serving benchmark as bench-tier tests on the CPU: figures printed, JSON and plots written.

The GPU figures come from tests/bench/serving_gpu.sh on a GPU node.
"""

from __future__ import annotations

import json

from bench.memcpy_runner import BACKEND as STAND_IN
from bench.serving_pipeline import ROOT, main


def test_reference_model_streams_at_30_fps_on_the_cpu() -> None:
    out = ROOT / "bench-results" / "serving_cpu_224.json"
    assert main(["--size", "224", "--batch", "32", "--seconds", "4", "--rounds", "3",
                 "--repeat", "3", "--streams", "8,16,24,32,40,48", "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    assert out.with_suffix(".png").stat().st_size > 10_000
    assert doc["rawRunner"]["cropsPerSecond"] > 0 and doc["saturated"]["cropsPerSecond"] > 0
    assert 0 < doc["efficiency"] <= 1.2
    assert [p["streams"] for p in doc["sweep"]] == [8, 16, 24, 32, 40, 48]
    assert all(p["latencyMs"]["p99"] >= p["latencyMs"]["p50"] > 0 for p in doc["sweep"])
    assert set(doc["latencyAtLoad"]) == {"50%", "90%"}


def test_the_pods_own_cost_per_crop_with_the_memcpy_stand_in() -> None:
    """16x16 crops: the copies are negligible, so the CPU a crop costs is the pod's own."""
    out = ROOT / "bench-results" / "serving_stand_in_16.json"
    assert main(["--backend", STAND_IN, "--size", "16", "--batch", "256", "--seconds", "3",
                 "--rounds", "2", "--saturate", "6000", "--streams", "500,1000,2000",
                 "--out", str(out)]) == 0
    doc = json.loads(out.read_text())
    ceiling = doc["podCeiling"]
    assert 0 < ceiling["cropsPerSecond"] < ceiling["copiesAloneCropsPerSecond"]
    assert doc["saturated"]["cpuMicrosecondsPerCrop"] > 0
    assert doc["saturated"]["droppedPerSecond"], "6000 streams should overrun the pod here"
    stages = doc["saturated"]["stagesMs"]
    assert set(stages) == {"crop", "queue", "engine", "toLoop", "analysis"}
    assert all(0 <= s["p50"] <= s["p99"] for s in stages.values())

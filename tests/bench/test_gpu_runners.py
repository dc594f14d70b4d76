"""The GPU runner benchmark as a bench-tier test: figures printed and in bench-results/."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.gpu_runners import ROOT, cuda_device_present, run

pytestmark = pytest.mark.skipif(not cuda_device_present(), reason="needs an NVIDIA GPU")


def test_gpu_runner_figures() -> None:
    out = ROOT / "bench-results" / "gpu_runners.json"
    report = run([1, 32, 128, 256], seconds=1.0, out=out)
    assert json.loads(Path(out).read_text())["device"] == report["device"]
    assert report["errors"] == []
    assert report["results"] and report["copyOnly"]
    assert all(row["cropsPerSecond"] > 0 for row in report["results"] + report["copyOnly"])

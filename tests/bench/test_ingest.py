"""The ingest benchmark as a bench-tier test: figures printed and in bench-results/ingest.json."""

from __future__ import annotations

import json

from bench.ingest import ROOT, run


def test_ingest_figures() -> None:
    out = ROOT / "bench-results" / "ingest.json"
    report = run(3.0, out, [40, 200])
    assert json.loads(out.read_text())["haarDetector"] == report["haarDetector"]
    assert all(row["cropsPerSecond"] > 0 for row in report["pacedStudentStreams"])
    assert all(row["facesFound"] == 5 for row in report["haarDetector"])
    assert all(row["framesPerSecond"] > 0 for row in report["fileDecode"])

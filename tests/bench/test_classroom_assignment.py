"""The planner benchmark as a bench-tier test: figures printed and in
bench-results/classroom_assignment.json."""

from __future__ import annotations

import json

from bench.classroom_assignment import ROOT, run


def test_classroom_assignment_figures() -> None:
    out = ROOT / "bench-results" / "classroom_assignment.json"
    report = run(out)
    assert json.loads(out.read_text()) == report
    assert all(row["roomsMovedByOneMore"] == 0 for row in report["rows"])
    assert all(row["pods"] > 0 for row in report["rows"])

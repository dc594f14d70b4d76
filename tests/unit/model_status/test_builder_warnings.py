"""What the builder doubts without refusing an engine (its summary's `warnings`) reaches the
model's status: each engine's entry, the Validated condition, and the catalogue that remembers
the engine for the next model."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from classroom_inference.builder.report import summary_line
from classroom_operator.engines.build_results import parse_summary
from classroom_operator.engines.catalogue import CatalogueEntry, parse_entry
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord, record_from_status
from classroom_operator.status import model_status

WARNING = "DegenerateHead: emotion gives the same top class for every crop"


def _summary(warnings: list[str]) -> dict[str, Any]:
    # The builder's own summary line, as its Job's termination message carries it.
    document = {"fingerprint": "0123456789abcdef", "state": "Ready", "reason": "Built",
                "permanent": False, "message": "", "backend": "onnxruntime-cpu",
                "buildSeconds": 2.5, "sizeBytes": 1024,
                "throughput": {"batch": 32, "cropsPerSecond": 900.0},
                "validation": {"attentionMae": 0.0, "emotionAgreement": 1.0,
                               "passed": True}}
    if warnings:
        document["warnings"] = warnings
    summary = parse_summary(summary_line(document))
    assert summary is not None
    return dict(summary.figures)


def _ready(gpu_class: str, figures: dict[str, Any]) -> EngineRecord:
    return EngineRecord(fingerprint=f"{gpu_class[:4]}456789abcdef"[:16], gpu_class=gpu_class,
                        backend="onnxruntime-cpu", state="Ready", reason="", message="",
                        attempts=1, figures=figures)


def _validated(status: dict[str, Any]) -> dict[str, Any]:
    (condition,) = [c for c in status["conditions"] if c["type"] == "Validated"]
    return condition


def test_a_warned_engine_says_so_in_its_entry_and_in_validated(now: datetime) -> None:
    records = [_ready("cpu", _summary([WARNING])), _ready("nvidia-l4", _summary([WARNING]))]
    status = model_status(records, InventoryView(), previous={}, generation=1,
                          spec_error=None, now=now)
    assert [entry["warnings"] for entry in status["engines"]] == [[WARNING], [WARNING]]
    validated = _validated(status)
    assert (validated["status"], validated["reason"]) == ("True", "ThresholdsMetWithWarnings")
    # Said once, with the classes it concerns.
    assert validated["message"].count("DegenerateHead") == 1
    assert "(cpu, nvidia-l4)" in validated["message"]
    # Read back from status on the next pass, the warning stays.
    again = record_from_status(status["engines"][0])
    assert again is not None and again.figures["warnings"] == [WARNING]


def test_without_warnings_validated_says_thresholds_met(now: datetime) -> None:
    status = model_status([_ready("cpu", _summary([]))], InventoryView(), previous={},
                          generation=1, spec_error=None, now=now)
    assert "warnings" not in status["engines"][0]
    assert _validated(status)["reason"] == "ThresholdsMet"


def test_the_catalogue_remembers_the_warnings() -> None:
    entry = CatalogueEntry(fingerprint="0123456789abcdef", gpu_class="cpu",
                           backend="onnxruntime-cpu", built_at="2026-12-07T08:00:00Z",
                           figures=_summary([WARNING]))
    found = parse_entry(entry.fingerprint, entry.to_json())
    assert found is not None and found.figures["warnings"] == [WARNING]

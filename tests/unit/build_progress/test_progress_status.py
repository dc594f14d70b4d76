"""A running build in status: status.engines[].progress, the Build column's summary, and the
pod's start time they count from."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from classroom_operator.engines.build_progress import (
    StepLine,
    build_summary,
    duration,
    progress_at,
)
from classroom_operator.engines.build_results import pod_view
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord, record_from_status
from classroom_operator.status import model_status

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def _record(state: str, fingerprint: str = "0123456789abcdef", *, started: int | None = None,
            step: str | None = None, step_for: int = 0) -> EngineRecord:
    progress = None
    if started is not None:
        line = StepLine(step, NOW - timedelta(seconds=step_for)) if step else None
        progress = progress_at(NOW - timedelta(seconds=started), line, NOW)
    return EngineRecord(fingerprint=fingerprint, gpu_class="cpu", backend="onnxruntime-cpu",
                        state=state, attempts=1, progress=progress)


@pytest.mark.parametrize(("seconds", "text"), [
    (0, "0s"), (59, "59s"), (60, "1m00s"), (192, "3m12s"), (3599, "59m59s"), (3600, "1h00m"),
    (3840, "1h04m"), (90000, "25h00m")])
def test_duration(seconds: int, text: str) -> None:
    assert duration(seconds) == text


def test_progress_in_the_engine_entry() -> None:
    entry = _record("Building", started=600, step="validate", step_for=192).to_status()
    assert entry["progress"] == {"startedAt": "2026-11-25T11:50:00Z", "seconds": 600,
                                 "step": "validate", "stepStartedAt": "2026-11-25T11:56:48Z",
                                 "stepSeconds": 192}


def test_before_the_first_step_line_only_the_running_time() -> None:
    assert _record("Building", started=40).to_status()["progress"] == {
        "startedAt": "2026-11-25T11:59:20Z", "seconds": 40}


def test_a_node_clock_ahead_gives_no_negative_time() -> None:
    progress = progress_at(NOW + timedelta(seconds=5), StepLine("fetch", NOW + timedelta(9)),
                           NOW)
    assert (progress.seconds, progress.step_seconds) == (0, 0)


def test_progress_is_never_read_back_from_status() -> None:
    # It is fresh each pass: a record rebuilt from status has none, so a build that ended
    # between passes shows none.
    entry = _record("Building", started=600, step="engine", step_for=60).to_status()
    restored = record_from_status(entry)
    assert restored is not None and restored.progress is None


@pytest.mark.parametrize(("records", "summary"), [
    ([], ""),
    ([_record("Ready"), _record("Failed", "1")], ""),
    ([_record("Building")], "1 building"),
    ([_record("Building", started=40)], "1 building: running 40s"),
    ([_record("Building", started=700, step="engine", step_for=500),
      _record("Building", "1", started=900, step="validate", step_for=192),
      _record("Pending", "2")], "2 building: validate 3m12s"),
])
def test_build_summary(records: list[EngineRecord], summary: str) -> None:
    assert build_summary(records) == summary


def test_the_build_column_and_the_engine_entries_in_the_model_status() -> None:
    building = model_status(
        [_record("Building", started=900, step="validate", step_for=192), _record("Ready", "1")],
        InventoryView(), previous={"summary": {"pods": "0/1"}}, generation=1, spec_error=None,
        now=NOW)
    assert building["summary"] == {"pods": "0/1", "engines": "1/2",
                                   "build": "1 building: validate 3m12s"}
    assert building["engines"][0]["progress"]["step"] == "validate"
    assert "progress" not in building["engines"][1]
    # Once built, the step entries go and the column empties (a merge patch keeps a key it
    # does not name, so the summary says "" rather than dropping the key).
    ready = model_status([_record("Ready"), _record("Ready", "1")], InventoryView(),
                         previous=building, generation=1, spec_error=None, now=NOW)
    assert ready["summary"]["build"] == ""
    assert all("progress" not in engine for engine in ready["engines"])


def _pod_status(state: dict[str, object], phase: str = "Running") -> dict[str, object]:
    return {"phase": phase, "containerStatuses": [{"name": "build", "state": state}]}


def test_the_build_container_start_is_the_builds_start() -> None:
    meta = {"name": "engine-build-0123456789abcdef-x1",
            "labels": {"batch.kubernetes.io/job-name": "engine-build-0123456789abcdef"}}
    running = pod_view(meta, _pod_status({"running": {"startedAt": "2026-11-25T11:50:00Z"}}))
    assert running.running and running.started_at == NOW - timedelta(minutes=10)
    waiting = pod_view(meta, _pod_status({"waiting": {"reason": "ContainerCreating"}},
                                         "Pending"))
    assert not waiting.running and waiting.started_at is None
    ended = pod_view(meta, _pod_status({"terminated": {"exitCode": 0, "message": "{}"}},
                                       "Succeeded"))
    assert not ended.running

"""What the operator reads from a running build's log: the builder's last step line, however
the tail around it looks (docs/contracts.md, "Build progress")."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime

import pytest
from classroom_inference.builder.report import Progress
from classroom_operator.engines.build_progress import StepLine, last_step

STEP = '{"step":"validate","at":"2026-11-25T12:00:00Z","fingerprint":"0123456789abcdef"}'


def test_the_last_step_line_wins() -> None:
    tail = ('{"step":"engine","at":"2026-11-25T11:50:00Z","fingerprint":"0123456789abcdef"}\n'
            "2026-11-25T11:59:59Z build +600.0s [TRT] building\n"
            f"{STEP}\n"
            "2026-11-25T12:00:01Z build +601.0s [7/9] validate: 256 synthetic crops\n")
    assert last_step(tail) == StepLine("validate", datetime(2026, 11, 25, 12, tzinfo=UTC))


@pytest.mark.parametrize("tail", [
    "",
    "Traceback (most recent call last):\n  boom",
    # The builder's summary is JSON too, but no step line.
    '{"fingerprint":"0123456789abcdef","state":"Ready","reason":"Built"}',
    # A first line cut short by limitBytes.
    'at":"2026-11-25T12:00:00Z","fingerprint":"0123456789abcdef"}',
    '{"step":"Validate; rm -rf","at":"2026-11-25T12:00:00Z"}',
    '{"step":"validate","at":"yesterday"}',
    '{"step":"validate","at":"2026-11-25T12:00:00"}',  # no zone: cannot be placed in time
    '{"step":"validate"}',
    '["validate"]',
])
def test_no_step_in_a_tail_without_a_well_formed_step_line(tail: str) -> None:
    assert last_step(tail) is None


def test_reads_what_the_builder_announces() -> None:
    # The contract from both sides: the builder's own Progress, read by the operator's parser.
    merged = io.StringIO()
    progress = Progress(merged, tty=False, steps=merged, fingerprint="0123456789abcdef")
    progress.step("fetch", "https://models/face.onnx")
    progress.step("engine", "tensorrt")
    for index in range(50):
        progress.log(f"[TRT] tactic {index}")
    tail = "\n".join(merged.getvalue().splitlines()[-5:])
    step = last_step(tail)
    assert step is not None and step.step == "engine"
    announced = [json.loads(line) for line in merged.getvalue().splitlines()
                 if line.startswith("{")]
    assert step.at == datetime.fromisoformat(announced[-1]["at"].replace("Z", "+00:00"))

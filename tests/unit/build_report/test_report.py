"""The summary line and the progress output of a build."""

from __future__ import annotations

import io
import json
import re

from classroom_inference.builder.report import (
    STEP_LINE_EVERY,
    SUMMARY_LIMIT,
    Progress,
    summary_line,
)


def test_a_long_message_is_cut_to_fit_4_kib() -> None:
    doc = {"fingerprint": "0123456789abcdef", "state": "Failed", "reason": "InvalidModel",
           "permanent": True, "message": "é\"\n" * 5000, "validation": None}
    line = summary_line(doc)
    assert len(line.encode()) <= SUMMARY_LIMIT and "\n" not in line
    parsed = json.loads(line)
    assert {k: v for k, v in parsed.items() if k != "message"} == {
        k: v for k, v in doc.items() if k != "message"}
    assert parsed["message"].endswith("...") and len(parsed["message"]) > 100


def test_a_short_summary_is_unchanged() -> None:
    doc = {"state": "Ready", "message": "stored"}
    assert json.loads(summary_line(doc)) == doc


def test_plain_log_lines_off_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=False)
    progress.step("fetch", "https://models/face.onnx")
    progress.log("calibrating on 3 crops")
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ build \+\d+\.\ds \[2/9\] fetch: "
                        r"https://models/face\.onnx", lines[0])
    assert lines[1].endswith("calibrating on 3 crops")
    assert "\r" not in stream.getvalue()


def test_one_rewritten_line_on_a_terminal() -> None:
    stream = io.StringIO()
    progress = Progress(stream, tty=True)
    progress.step("fetch")
    progress.step("check", "model.onnx")
    progress.close()
    text = stream.getvalue()
    assert text.count("\r\033[K") == 2 and text.endswith("[3/9] check: model.onnx\n")


def _step_lines(text: str) -> list[dict[str, str]]:
    lines = []
    for line in text.splitlines():
        if line.startswith("{"):
            document = json.loads(line)
            if "step" in document:
                lines.append(document)
    return lines


def test_each_step_prints_one_json_step_line() -> None:
    log, steps = io.StringIO(), io.StringIO()
    progress = Progress(log, tty=False, steps=steps, fingerprint="0123456789abcdef")
    progress.step("fetch", "https://models/face.onnx")
    progress.step("validate", "256 synthetic crops")
    announced = _step_lines(steps.getvalue())
    assert [line["step"] for line in announced] == ["fetch", "validate"]
    assert all(line["fingerprint"] == "0123456789abcdef" for line in announced)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", line["at"]) for line in announced)
    assert steps.getvalue().count("\n") == 2 and "{" not in log.getvalue()


def test_a_chatty_step_repeats_its_line_so_a_short_tail_always_holds_one() -> None:
    # One stream for both, as the pod's log interleaves stdout and stderr.
    merged = io.StringIO()
    progress = Progress(merged, tty=False, steps=merged, fingerprint="0123456789abcdef")
    progress.step("engine", "tensorrt")
    for index in range(20):
        progress.log(f"[TRT] tactic {index}")
    lines = merged.getvalue().splitlines()
    assert len(lines) > 20
    windows = [lines[i:i + STEP_LINE_EVERY + 1] for i in range(len(lines) - STEP_LINE_EVERY)]
    assert all(_step_lines("\n".join(window)) for window in windows)
    repeated = _step_lines(merged.getvalue())
    assert len(repeated) > 1 and all(line == repeated[0] for line in repeated)


def test_no_step_lines_without_a_stream_for_them() -> None:
    log = io.StringIO()
    progress = Progress(log, tty=False)
    progress.step("fetch")
    for _ in range(10):
        progress.log("working")
    assert _step_lines(log.getvalue()) == []

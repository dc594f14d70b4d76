"""The summary line and the progress output of a build."""

from __future__ import annotations

import io
import json
import re

from classroom_inference.builder.report import SUMMARY_LIMIT, Progress, summary_line


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

"""What the builder tells people and the operator: progress lines, step lines, and the one-line
JSON summary.

The summary goes to the termination-message path (the operator reads it from the Pod status, no
extra RBAC) and must stay under 4 KiB (docs/contracts.md, "Builder summary"); the message is cut
to fit, never the fields the operator parses.

Step lines (docs/contracts.md, "Build progress") go to stdout, one JSON object a line, so the
operator learns from the last few lines of the running pod's log which step a long build is in.
A step's line is repeated, unchanged, after every few log lines of that step: a chatty step (a
TensorRT build logs a great deal) never pushes it out of the short tail the operator reads.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

SUMMARY_LIMIT = 4096
STEPS = ("spec", "fetch", "check", "preprocess", "precision", "engine", "validate", "measure",
         "store")
# The operator reads the last 8 lines of the log; with the step line repeated after every 3 log
# lines, any 4 consecutive lines of the builder hold one.
STEP_LINE_EVERY = 3


def _utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Progress:
    """Step-by-step progress: one rewritten status line on a terminal, log lines otherwise; and,
    with `steps`, a JSON step line per step there (stdout in a build Job)."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None, *,
                 steps: TextIO | None = None, fingerprint: str = "") -> None:
        self.stream = sys.stderr if stream is None else stream
        self.tty = self.stream.isatty() if tty is None else tty
        self.started = time.monotonic()
        self._open_line = False
        self._steps = steps
        self._fingerprint = fingerprint
        self._step_line = ""
        self._logged_since_step_line = 0

    def step(self, name: str, detail: str = "") -> None:
        self._step_line = json.dumps({"step": name, "at": _utc_now(),
                                      "fingerprint": self._fingerprint},
                                     separators=(",", ":"))
        self._announce()
        number = STEPS.index(name) + 1 if name in STEPS else 0
        text = f"[{number}/{len(STEPS)}] {name}" + (f": {detail}" if detail else "")
        if self.tty:
            self.stream.write(f"\r\033[K{text}")
            self._open_line = True
            self.stream.flush()
        else:
            self.log(text)

    def log(self, message: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        elapsed = time.monotonic() - self.started
        self.stream.write(f"{_utc_now()} build +{elapsed:.1f}s {message}\n")
        self.stream.flush()
        self._logged_since_step_line += 1
        if self._logged_since_step_line >= STEP_LINE_EVERY:
            self._announce()

    def _announce(self) -> None:
        self._logged_since_step_line = 0
        if self._steps is None or not self._step_line:
            return
        self._steps.write(self._step_line + "\n")
        self._steps.flush()

    def close(self) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
            self.stream.flush()


def summary_line(doc: dict[str, Any]) -> str:
    """The summary as one JSON line of at most SUMMARY_LIMIT bytes, message cut if needed."""

    def encode(message: str) -> str:
        return json.dumps(dict(doc, message=message), separators=(",", ":"))

    message = str(doc.get("message", ""))
    line = encode(message)
    if len(line.encode()) <= SUMMARY_LIMIT:
        return line
    # JSON escaping makes bytes per character uneven: search the longest prefix that fits.
    low, high = 0, len(message)
    while low < high:
        middle = (low + high + 1) // 2
        if len(encode(message[:middle] + "...").encode()) <= SUMMARY_LIMIT:
            low = middle
        else:
            high = middle - 1
    return encode(message[:low] + "...")


def write_termination_log(path: Path | None, line: str, progress: Progress) -> None:
    if path is None:
        return
    try:
        Path(path).write_text(line + "\n")
    except OSError as exc:
        # The exit code still tells the operator permanent from transient.
        progress.log(f"cannot write the termination log {path}: {exc}")

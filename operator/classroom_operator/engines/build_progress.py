"""Where a running build is: the builder's step lines, and the Build column's summary (pure).

The builder prints one JSON line per step to stdout, `{"step": ..., "at": ..., "fingerprint": ...}`,
repeated after every few of its log lines (docs/contracts.md, "Build progress"). The operator
reads the last lines of a running build pod's log, at most once per build per
`CLASSROOM_BUILD_PROGRESS_SECONDS` (`StepReads` keeps the time and what was seen), and shows the
last step with the time since the pod's build container started in status.engines[].progress
and in status.summary.build, the Build column of `kubectl get cmodel -o wide`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

# What the operator asks the API for: the tail of the build container's log, bounded in bytes
# too, so a builder printing one huge line costs no more than this.
LOG_TAIL_LINES = 8
LOG_LIMIT_BYTES = 16384
# A step is a short lowercase word: anything else on a JSON line is not the builder's step.
STEP = re.compile(r"[a-z][a-z0-9-]{0,31}")


@dataclass(frozen=True)
class StepLine:
    step: str
    at: datetime


def _step_line(line: str) -> StepLine | None:
    line = line.strip()
    if not line.startswith("{"):
        return None
    try:
        document = json.loads(line)
    except ValueError:
        return None
    if not isinstance(document, dict):
        return None
    step, at = document.get("step"), document.get("at")
    if not isinstance(step, str) or not STEP.fullmatch(step) or not isinstance(at, str):
        return None
    try:
        when = datetime.fromisoformat(at.replace("Z", "+00:00"))
    except ValueError:
        return None
    return StepLine(step, when) if when.tzinfo is not None else None


def last_step(log_tail: str) -> StepLine | None:
    """The last step line in a log's tail; None when it holds none (other output, or a first
    line cut short by the byte limit)."""
    for line in reversed(log_tail.splitlines()):
        found = _step_line(line)
        if found is not None:
            return found
    return None


def is_step_line(line: str) -> bool:
    return _step_line(line) is not None


@dataclass(frozen=True)
class BuildProgress:
    """A running build, as status.engines[].progress shows it."""

    started_at: datetime
    step: str = ""  # "" until the builder's first step line is seen
    step_started_at: datetime | None = None
    seconds: int = 0
    step_seconds: int | None = None

    def to_status(self) -> dict[str, Any]:
        item: dict[str, Any] = {"startedAt": _stamp(self.started_at), "seconds": self.seconds}
        if self.step:
            item["step"] = self.step
        if self.step_started_at is not None:
            item["stepStartedAt"] = _stamp(self.step_started_at)
            item["stepSeconds"] = self.step_seconds
        return item


def _stamp(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _since(when: datetime, now: datetime) -> int:
    # The node's clock may run ahead of the operator's: never a negative duration.
    return max(0, int((now - when).total_seconds()))


def progress_at(started_at: datetime, step: StepLine | None, now: datetime) -> BuildProgress:
    if step is None:
        return BuildProgress(started_at=started_at, seconds=_since(started_at, now))
    return BuildProgress(started_at=started_at, step=step.step, step_started_at=step.at,
                         seconds=_since(started_at, now), step_seconds=_since(step.at, now))


def duration(seconds: int) -> str:
    """Like kubectl's ages, but exact to the second under an hour: 45s, 3m12s, 1h04m."""
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class HasProgress(Protocol):
    @property
    def state(self) -> str: ...

    @property
    def progress(self) -> BuildProgress | None: ...


def build_summary(records: Sequence[HasProgress]) -> str:
    """status.summary.build: "" with nothing building; else how many are building and where the
    longest-running one is, e.g. "2 building: validate 3m12s" (its step and the step's time),
    "1 building: running 40s" before its first step line is read, "1 building" before any build
    pod runs."""
    building = [record for record in records if record.state == "Building"]
    if not building:
        return ""
    running = [record.progress for record in building if record.progress is not None]
    text = f"{len(building)} building"
    if not running:
        return text
    longest = max(running, key=lambda progress: progress.seconds)
    if not longest.step or longest.step_seconds is None:
        return f"{text}: running {duration(longest.seconds)}"
    return f"{text}: {longest.step} {duration(longest.step_seconds)}"


class StepReads:
    """Per running build pod: when its log was last read and the last step seen in it.

    A thousand models may share one build and every pass of each would otherwise read the log;
    `claim` lets one read through per pod per `interval` seconds (from the moment it is claimed,
    so passes running side by side do not read twice), and the others take the step last seen.
    Pods no longer running are forgotten by `keep_only`.
    """

    def __init__(self, interval: float) -> None:
        self.interval = interval
        self._read_at: dict[str, float] = {}
        self._steps: dict[str, StepLine] = {}
        self._unreadable: set[str] = set()

    def claim(self, pod: str, now: float) -> bool:
        if self.interval <= 0:
            return False
        last = self._read_at.get(pod)
        if last is not None and now - last < self.interval:
            return False
        self._read_at[pod] = now
        return True

    def seen(self, pod: str, step: StepLine | None) -> None:
        """What a read found; a tail without a step line keeps the step seen before."""
        if step is not None and pod in self._read_at:
            self._steps[pod] = step

    def step(self, pod: str) -> StepLine | None:
        return self._steps.get(pod)

    def unreadable(self, pod: str) -> bool:
        """A read of this pod's log failed; True the first time only, so a cluster that
        refuses every read (no pods/log grant) says so once per build, not every interval."""
        first = pod not in self._unreadable
        self._unreadable.add(pod)
        return first

    def keep_only(self, running: Iterable[str]) -> None:
        keep = set(running)
        for pod in [pod for pod in self._read_at if pod not in keep]:
            del self._read_at[pod]
            self._steps.pop(pod, None)
        self._unreadable &= keep

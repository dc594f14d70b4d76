"""The pod's assignment: the classrooms and streams it serves (contracts: "The inference pod").

The operator writes one JSON document per pool into a ConfigMap mounted as a volume; each pod takes
the entry under its own POD_NAME. The file is followed (followed_file.py), never by a restart.
A bad document is refused with an error naming the field, and the last good assignment keeps
running.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from classroom_inference.serving.followed_file import FollowedFile

LAYOUTS = ("per-student", "room")

log = logging.getLogger(__name__)


class AssignmentInvalid(ValueError):
    """The assignment file cannot be used; the message names the field and the fix."""


@dataclass(frozen=True)
class AnalysisSettings:
    distracted_after_seconds: float = 30.0
    attention_threshold: float = 0.5
    smoothing_seconds: float = 2.0
    summary_every_seconds: float = 60.0


@dataclass(frozen=True)
class StreamAssignment:
    id: str
    url: str
    layout: str
    classroom: str


@dataclass(frozen=True)
class ClassroomAssignment:
    name: str
    streams: tuple[StreamAssignment, ...]


@dataclass(frozen=True)
class Assignment:
    model: str
    generation: int
    fingerprint: str
    analysis: AnalysisSettings
    sink_url: str | None
    classrooms: tuple[ClassroomAssignment, ...]
    listed: bool  # whether the file has an entry for this pod at all

    @property
    def streams(self) -> dict[str, StreamAssignment]:
        return {s.id: s for room in self.classrooms for s in room.streams}


def _require(doc: Mapping[str, Any], key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if key not in doc:
        raise AssignmentInvalid(f"{where}{key} is missing")
    value = doc[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise AssignmentInvalid(f"{where}{key} must be {names}, got {type(value).__name__}")
    return value


def _analysis(doc: Mapping[str, Any]) -> AnalysisSettings:
    raw = doc.get("analysis") or {}
    if not isinstance(raw, dict):
        raise AssignmentInvalid("analysis must be an object")
    defaults = AnalysisSettings()
    fields = {
        "distractedAfterSeconds": ("distracted_after_seconds", 0.0, None, False),
        "attentionThreshold": ("attention_threshold", 0.0, 1.0, True),
        "smoothingSeconds": ("smoothing_seconds", 0.0, None, True),
        "summaryEverySeconds": ("summary_every_seconds", 0.0, None, False),
    }
    values: dict[str, float] = {}
    for key, (attr, low, high, low_ok) in fields.items():
        if key not in raw:
            values[attr] = getattr(defaults, attr)
            continue
        value = _require(raw, key, (int, float), "analysis.")
        if not math.isfinite(value):  # JSON's NaN and Infinity, which Python's parser accepts
            raise AssignmentInvalid(f"analysis.{key} must be a finite number, got {value}")
        too_low = value < low if low_ok else value <= low
        if too_low or (high is not None and value > high):
            bound = f"in [{low}, {high}]" if high is not None else (
                f">= {low}" if low_ok else f"> {low}")
            raise AssignmentInvalid(f"analysis.{key} must be {bound}, got {value}")
        values[attr] = float(value)
    return AnalysisSettings(**values)


def _sink_url(doc: Mapping[str, Any]) -> str | None:
    sink = doc.get("sink") or {}
    webhook = sink.get("webhook") if isinstance(sink, dict) else None
    if not webhook:
        return None
    url = _require(webhook, "url", str, "sink.webhook.")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise AssignmentInvalid(
            "sink.webhook.url must be an http:// or https:// URL with a host, "
            f"got scheme {parts.scheme or '(none)'!r}"
        )
    return str(url)


def _classrooms(entries: Any, pod_name: str) -> tuple[ClassroomAssignment, ...]:
    where = f"pods[{pod_name!r}]"
    if not isinstance(entries, list):
        raise AssignmentInvalid(f"{where} must be a list of classrooms")
    rooms: list[ClassroomAssignment] = []
    seen: set[str] = set()
    for i, entry in enumerate(entries):
        at = f"{where}[{i}]."
        if not isinstance(entry, dict):
            raise AssignmentInvalid(f"{where}[{i}] must be an object with name and streams")
        name = _require(entry, "name", str, at)
        streams = []
        for j, stream in enumerate(_require(entry, "streams", list, at)):
            sat = f"{at}streams[{j}]."
            if not isinstance(stream, dict):
                raise AssignmentInvalid(f"{at}streams[{j}] must be an object with id and url")
            stream_id = _require(stream, "id", str, sat)
            url = _require(stream, "url", str, sat)
            layout = stream.get("layout", "per-student")
            if not stream_id or not url:
                raise AssignmentInvalid(f"{sat}id and url must not be empty")
            if layout not in LAYOUTS:
                raise AssignmentInvalid(
                    f"{sat}layout must be one of {', '.join(LAYOUTS)}, got {layout!r}"
                )
            if stream_id in seen:
                raise AssignmentInvalid(f"{sat}id {stream_id!r} is assigned twice to this pod")
            seen.add(stream_id)
            streams.append(StreamAssignment(stream_id, url, layout, name))
        rooms.append(ClassroomAssignment(name, tuple(streams)))
    return tuple(rooms)


def parse_assignment(doc: Any, pod_name: str) -> Assignment:
    """The entry for `pod_name`; a pod the file does not list yet serves nothing (not an error)."""
    if not isinstance(doc, dict):
        raise AssignmentInvalid("the assignment must be a JSON object")
    pods = _require(doc, "pods", dict, "")
    listed = pod_name in pods
    return Assignment(
        model=_require(doc, "model", str, ""),
        generation=_require(doc, "generation", int, ""),
        fingerprint=_require(doc, "fingerprint", str, ""),
        analysis=_analysis(doc),
        sink_url=_sink_url(doc),
        classrooms=_classrooms(pods[pod_name], pod_name) if listed else (),
        listed=listed,
    )


def load_assignment(path: Path, pod_name: str) -> Assignment:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssignmentInvalid(f"cannot read the assignment file {path}: {exc.strerror}") from exc
    try:
        doc = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise AssignmentInvalid(f"the assignment file {path} is not JSON: {exc}") from exc
    return parse_assignment(doc, pod_name)


class AssignmentFollower:
    """Re-reads the assignment when its file changes and hands each good version to `apply`."""

    def __init__(
        self,
        path: Path,
        pod_name: str,
        apply: Callable[[Assignment], Awaitable[None]],
        *,
        poll_seconds: float = 1.0,
    ) -> None:
        self.path = path
        self.pod_name = pod_name
        self._apply = apply
        self.poll_seconds = poll_seconds
        self.current: Assignment | None = None
        self.error: str | None = None
        self._file = FollowedFile(path)

    async def check(self) -> bool:
        """Load and apply the file if it changed; True when a new assignment was applied."""
        try:
            data = self._file.changed()
        except OSError as exc:
            self._refuse(f"cannot read the assignment file {self.path}: {exc.strerror}")
            return False
        if data is None:
            return False
        try:
            doc = json.loads(data)
            assignment = parse_assignment(doc, self.pod_name)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            self._refuse(f"the assignment file {self.path} is not JSON: {exc}")
            return False
        except AssignmentInvalid as exc:
            self._refuse(f"the assignment file {self.path} is invalid: {exc}")
            return False
        self._file.accept()
        self.error = None
        self.current = assignment
        await self._apply(assignment)
        return True

    def _refuse(self, message: str) -> None:
        kept = "the previous assignment keeps running" if self.current else "nothing is served yet"
        if message != self.error:
            log.error("%s; %s", message, kept)
        self.error = message
        self._file.refuse()

    async def run(self) -> None:
        while True:
            await self.check()
            await asyncio.sleep(self.poll_seconds)

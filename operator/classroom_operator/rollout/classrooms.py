"""The classrooms a model serves, and how much engine work each one brings (pure).

A small site lists its rooms inline (spec.classrooms); a district labels `Classroom` resources,
owned by school IT, and the model's spec.classroomSelector picks those of its own namespace (an
empty selector picks all). Either way the rollout sees one list of `Room`s. A room's load is the
face crops per frame its streams give: one per per-student stream; each room camera gives the
room's seats (spec.seats of the Classroom, or of the inline classroom), as it sees every
student, or a typical class when the seat count is not declared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from classroom_operator.spec.fields import (
    STREAM_SCHEMES,
    SpecError,
    carries_credentials,
    read_secret_ref,
)
from classroom_operator.spec.model import ModelSpec, Stream
from classroom_operator.spec.selector import parse_selector

# A room camera without a seat count is sized for a typical class, so it is not under-provisioned.
FACES_PER_ROOM_CAMERA = 30


@dataclass(frozen=True)
class Room:
    name: str
    streams: tuple[Stream, ...]
    seats: int | None = None

    @property
    def students(self) -> int:
        """Its per-student streams."""
        return sum(1 for stream in self.streams if stream.layout == "per-student")

    @property
    def cameras(self) -> int:
        """Its room cameras."""
        return len(self.streams) - self.students

    @property
    def faces_per_camera(self) -> int:
        return self.seats or FACES_PER_ROOM_CAMERA

    @property
    def crops_per_frame(self) -> float:
        return float(self.students + self.cameras * self.faces_per_camera)


@dataclass(frozen=True)
class ClassroomResource:
    """A Classroom as the index keeps it: its labels, and its room or why it cannot be served."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    room: Room | None = None
    problem: str | None = None


def classroom_from_resource(name: str, labels: Mapping[str, str],
                            spec: Mapping[str, Any]) -> ClassroomResource:
    """The CRD checks Classrooms at admission; one stored before a rule existed is set aside with
    the reason, never allowed to break the other rooms."""
    streams_raw = spec.get("streams")
    if not isinstance(streams_raw, list) or not streams_raw:
        return ClassroomResource(name, dict(labels), problem="spec.streams lists no stream")
    try:
        room_login = read_secret_ref(spec, "credentialsSecretRef", "")
    except SpecError as error:
        return ClassroomResource(name, dict(labels), problem=str(error))
    streams = []
    for index, item in enumerate(streams_raw):
        url = item.get("url") if isinstance(item, Mapping) else None
        if not isinstance(url, str) or not url.startswith(STREAM_SCHEMES) or url in STREAM_SCHEMES:
            return ClassroomResource(name, dict(labels), problem=f"spec.streams[{index}].url is "
                                     "not an rtsp, rtsps, http, https or file URL")
        if carries_credentials(url):
            # Set aside rather than served: its URL would put the login into the assignment.
            return ClassroomResource(name, dict(labels), problem=f"spec.streams[{index}].url "
                                     "carries credentials; put them in a Secret with keys "
                                     "username and password and name it in credentialsSecretRef")
        layout = item.get("layout", "per-student")
        if layout not in ("per-student", "room"):
            return ClassroomResource(name, dict(labels), problem=f"spec.streams[{index}].layout "
                                     "must be per-student or room")
        try:
            login = read_secret_ref(item, "credentialsSecretRef", f"streams[{index}].")
        except SpecError as error:
            return ClassroomResource(name, dict(labels), problem=str(error))
        streams.append(Stream(url=url, layout=layout, credentials=login or room_login))
    seats = spec.get("seats")
    seats = seats if isinstance(seats, int) and not isinstance(seats, bool) and seats > 0 \
        else None
    return ClassroomResource(name, dict(labels), room=Room(name, tuple(streams), seats))


@dataclass(frozen=True)
class Selection:
    rooms: tuple[Room, ...]
    # "room-7: spec.streams lists no stream": selected Classrooms that cannot be served.
    problems: tuple[str, ...] = ()


def select_rooms(spec: ModelSpec, resources: Iterable[ClassroomResource]) -> Selection:
    """The model's rooms, by name: inline ones, or the Classrooms its selector picks."""
    if spec.classroom_selector is None:
        rooms = (Room(room.name, room.streams, room.seats) for room in spec.classrooms)
        return Selection(tuple(sorted(rooms, key=lambda r: r.name)))
    selector = spec.selector if spec.selector is not None \
        else parse_selector(spec.classroom_selector)
    chosen: list[Room] = []
    problems: list[str] = []
    for resource in sorted(resources, key=lambda r: r.name):
        if not selector.matches(resource.labels):
            continue
        if resource.room is None:
            problems.append(f"{resource.name}: {resource.problem}")
        else:
            chosen.append(resource.room)
    return Selection(tuple(chosen), tuple(problems))

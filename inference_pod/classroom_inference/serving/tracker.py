"""Stable per-seat ids for a room camera's faces between detections.

Students sit still, so a face is matched to the seat whose last box overlaps it most (IoU), then,
for faces that moved more than their own size allows to overlap, to the nearest seat centre. A seat
keeps its id while unseen (a student bending down, someone walking past) and is released only after
release_after_s, so brief occlusions do not split one student's time series in two. Seats found
together are numbered in reading order (front row first, left to right); later ones take the next
number, and numbers are never reused, so two students never share a time series.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .detector import Box


@dataclass
class Seat:
    seat_id: str
    box: Box
    last_seen: float


class SeatTracker:
    def __init__(
        self,
        *,
        release_after_s: float = 10.0,
        min_iou: float = 0.3,
        max_shift: float = 0.75,
        smoothing: float = 0.5,
    ) -> None:
        """max_shift: how far a face may move between detections, in face widths.
        smoothing: weight of the previous box when a seat is seen again (steadier crops)."""
        if release_after_s <= 0:
            raise ValueError(f"release_after_s is {release_after_s}; give a positive number")
        if not 0 <= smoothing < 1:
            raise ValueError(f"smoothing is {smoothing}; give a fraction in [0, 1)")
        self.release_after_s = release_after_s
        self.min_iou = min_iou
        self.max_shift = max_shift
        self.smoothing = smoothing
        self._seats: dict[str, Seat] = {}
        self._next_number = 1

    @property
    def seats(self) -> list[Seat]:
        """Every seat still held, seen in the last detection or not."""
        return list(self._seats.values())

    def update(self, faces: Sequence[Box], now: float) -> list[Seat]:
        """Match one detection's faces to seats; returns the seats seen now, in seat order."""
        self._release(now)
        free = dict(self._seats)
        unmatched = list(faces)
        seen: list[Seat] = []
        matches = self._match_by_overlap(free, unmatched)  # takes from free and unmatched
        matches += self._match_by_distance(free, unmatched)
        for seat_id, face in matches:
            seat = self._seats[seat_id]
            seat.box = self._blend(seat.box, face)
            seat.last_seen = now
            seen.append(seat)
        for face in _reading_order(unmatched):
            seat = Seat(str(self._next_number), face, now)
            self._next_number += 1
            self._seats[seat.seat_id] = seat
            seen.append(seat)
        return sorted(seen, key=lambda s: int(s.seat_id))

    def _release(self, now: float) -> None:
        for seat_id, seat in list(self._seats.items()):
            if now - seat.last_seen > self.release_after_s:
                del self._seats[seat_id]

    def _match_by_overlap(self, free: dict[str, Seat], faces: list[Box]) -> list[tuple[str, Box]]:
        pairs = [
            (seat.box.iou(face), seat_id, i)
            for seat_id, seat in free.items()
            for i, face in enumerate(faces)
        ]
        return self._greedy(
            sorted((p for p in pairs if p[0] >= self.min_iou), reverse=True), free, faces
        )

    def _match_by_distance(self, free: dict[str, Seat], faces: list[Box]) -> list[tuple[str, Box]]:
        pairs = []
        for seat_id, seat in free.items():
            (sx, sy), size = seat.box.centre, max(seat.box.w, seat.box.h)
            for i, face in enumerate(faces):
                fx, fy = face.centre
                distance = ((sx - fx) ** 2 + (sy - fy) ** 2) ** 0.5
                if distance <= self.max_shift * size:
                    pairs.append((-distance, seat_id, i))
        return self._greedy(sorted(pairs, reverse=True), free, faces)

    @staticmethod
    def _greedy(
        ranked: list[tuple[float, str, int]], free: dict[str, Seat], faces: list[Box]
    ) -> list[tuple[str, Box]]:
        """Best pairs first; each seat and each face used once. Matched ones leave free/faces."""
        taken: set[int] = set()
        matches: list[tuple[str, Box]] = []
        for _, seat_id, i in ranked:
            if seat_id in free and i not in taken:
                del free[seat_id]
                taken.add(i)
                matches.append((seat_id, faces[i]))
        faces[:] = [face for i, face in enumerate(faces) if i not in taken]
        return matches

    def _blend(self, old: Box, new: Box) -> Box:
        keep = self.smoothing
        return Box(
            keep * old.x + (1 - keep) * new.x,
            keep * old.y + (1 - keep) * new.y,
            keep * old.w + (1 - keep) * new.w,
            keep * old.h + (1 - keep) * new.h,
        )


def _reading_order(faces: Sequence[Box]) -> list[Box]:
    """Rows from the top (a face starts a new row when its centre is below half the row's first
    face's height), left to right within a row."""
    rows: list[list[Box]] = []
    for face in sorted(faces, key=lambda b: b.centre[1]):
        if rows and face.centre[1] - rows[-1][0].centre[1] <= rows[-1][0].h / 2:
            rows[-1].append(face)
        else:
            rows.append([face])
    return [face for row in rows for face in sorted(row, key=lambda b: b.centre[0])]

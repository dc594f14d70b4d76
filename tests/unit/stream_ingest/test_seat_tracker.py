"""Seat ids: numbered by position, stable while students sit, kept through brief occlusions."""

from __future__ import annotations

import pytest
from classroom_inference.serving.detector import Box
from classroom_inference.serving.tracker import SeatTracker


def ids(seats: list) -> dict[str, tuple[float, float]]:
    return {s.seat_id: s.box.centre for s in seats}


FRONT = [Box(500, 100, 50, 50), Box(100, 105, 50, 50), Box(300, 95, 50, 50)]
BACK = [Box(200, 300, 60, 60), Box(400, 298, 60, 60)]


def test_first_seats_are_numbered_front_row_first_left_to_right() -> None:
    seen = SeatTracker().update(BACK + FRONT, now=0.0)
    assert [(s.seat_id, s.box.x) for s in seen] == [
        ("1", 100), ("2", 300), ("3", 500), ("4", 200), ("5", 400),
    ]


def test_ids_stay_while_faces_move_a_little() -> None:
    tracker = SeatTracker()
    first = ids(tracker.update(FRONT + BACK, now=0.0))
    for step in range(1, 20):
        wobble = 4 if step % 2 else -4
        moved = [Box(b.x + wobble, b.y - wobble, b.w, b.h) for b in reversed(FRONT + BACK)]
        seen = ids(tracker.update(moved, now=step * 0.2))
        assert seen.keys() == first.keys()
        for seat_id, (x, y) in seen.items():
            assert abs(x - first[seat_id][0]) <= 5 and abs(y - first[seat_id][1]) <= 5


def test_a_face_that_moved_past_overlapping_keeps_its_seat_by_distance() -> None:
    tracker = SeatTracker()
    tracker.update([Box(100, 100, 40, 40)], now=0.0)
    seen = tracker.update([Box(128, 100, 40, 40)], now=0.2)  # IoU 0.18, moved 0.7 widths
    assert [s.seat_id for s in seen] == ["1"]


def test_a_face_far_from_every_seat_is_a_new_seat() -> None:
    tracker = SeatTracker()
    tracker.update([Box(100, 100, 40, 40)], now=0.0)
    seen = tracker.update([Box(100, 100, 40, 40), Box(300, 100, 40, 40)], now=0.2)
    assert ids(seen).keys() == {"1", "2"}


def test_an_occluded_student_keeps_the_seat_until_released() -> None:
    tracker = SeatTracker(release_after_s=5.0)
    tracker.update(FRONT, now=0.0)
    hidden = [FRONT[0], FRONT[2]]  # the student at x=100 (seat 1) bends down
    assert ids(tracker.update(hidden, now=1.0)).keys() == {"2", "3"}
    assert {s.seat_id for s in tracker.seats} == {"1", "2", "3"}
    back = tracker.update(FRONT, now=4.0)
    assert ids(back).keys() == {"1", "2", "3"}
    assert ids(back)["1"] == pytest.approx((125, 130))


def test_a_seat_unseen_too_long_is_released_and_its_number_not_reused() -> None:
    tracker = SeatTracker(release_after_s=5.0)
    tracker.update(FRONT, now=0.0)
    for now in (1.0, 3.0, 5.5):  # seat 1 last seen at 0.0
        tracker.update([FRONT[0], FRONT[2]], now=now)
    assert {s.seat_id for s in tracker.seats} == {"2", "3"}
    seen = tracker.update(FRONT, now=6.0)
    assert ids(seen).keys() == {"2", "3", "4"}
    assert ids(seen)["4"] == pytest.approx((125, 130))


def test_two_faces_never_share_a_seat() -> None:
    tracker = SeatTracker()
    tracker.update([Box(100, 100, 40, 40)], now=0.0)
    seen = tracker.update([Box(104, 100, 40, 40), Box(96, 102, 40, 40)], now=0.2)
    assert sorted(s.seat_id for s in seen) == ["1", "2"]


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="release_after_s is 0"):
        SeatTracker(release_after_s=0)
    with pytest.raises(ValueError, match="smoothing is 1"):
        SeatTracker(smoothing=1)

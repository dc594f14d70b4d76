"""Refused writes are tried again after a backoff that doubles, and at once after a spec
change."""

from __future__ import annotations

import time

from classroom_operator.controller import REFUSAL_BACKOFF, REFUSAL_BACKOFF_CAP, Refusals
from classroom_operator.status import RefusedWrite

KEY = ("school", "attention")
WRITE = (RefusedWrite("StatefulSet school/attention-aaaa0000", 422, "invalid"),)


def test_the_backoff_doubles_up_to_its_cap() -> None:
    refusals = Refusals()
    delays = []
    for _ in range(10):
        before = time.monotonic()
        refusal = refusals.record(KEY, 1, WRITE)
        delays.append(round(refusal.retry_at - before))
    assert delays[:3] == [REFUSAL_BACKOFF, 2 * REFUSAL_BACKOFF, 4 * REFUSAL_BACKOFF]
    assert delays[-1] == REFUSAL_BACKOFF_CAP
    assert refusal.holding(time.monotonic())


def test_a_spec_change_forgets_the_refusal() -> None:
    refusals = Refusals()
    refusals.record(KEY, 1, WRITE)
    refusals.record(KEY, 1, WRITE)
    assert refusals.of(KEY, 2) is None
    assert refusals.record(KEY, 2, WRITE).attempts == 1


def test_more_refusals_of_the_same_attempt_keep_its_backoff() -> None:
    refusals = Refusals()
    first = refusals.record(KEY, 1, WRITE)
    status = RefusedWrite("status of ClassroomModel school/attention", 422, "invalid")
    both = refusals.record(KEY, 1, (*WRITE, status), same_attempt=True)
    assert (both.attempts, both.retry_at) == (first.attempts, first.retry_at)
    assert both.writes == (*WRITE, status)

from __future__ import annotations

import re

import pytest
from classroom_inference.serving.pseudonym import Pseudonyms, SecretInvalid

SECRET = "k" * 32


def test_same_student_same_id_across_instances() -> None:
    assert Pseudonyms(SECRET).student("room-101", "room-101-0", "0") == Pseudonyms(
        SECRET).student("room-101", "room-101-0", "0")


def test_id_is_opaque_and_reveals_no_part() -> None:
    sid = Pseudonyms(SECRET).student("room-101", "room-101-3", "7")
    # hex only after the prefix: no classroom name, stream id or seat can show through
    assert re.fullmatch(r"stu_[0-9a-f]{24}", sid)


def test_ids_differ_by_every_part_and_by_key() -> None:
    p = Pseudonyms(SECRET)
    ids = {
        p.student("room-101", "s-0", "0"),
        p.student("room-102", "s-0", "0"),
        p.student("room-101", "s-1", "0"),
        p.student("room-101", "s-0", "1"),
        # moving characters between parts must not collide
        p.student("room-101s", "-0", "0"),
        Pseudonyms("x" * 32).student("room-101", "s-0", "0"),
    }
    assert len(ids) == 6


@pytest.mark.parametrize("secret", [None, "", "short"])
def test_missing_or_weak_secret_is_refused_with_the_fix(secret: str | None) -> None:
    with pytest.raises(SecretInvalid, match=r"CLASSROOM_ID_SECRET.*16"):
        Pseudonyms(secret)

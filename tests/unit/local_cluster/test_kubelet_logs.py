"""The agent nodes' container-log endpoint answers as kubelet does: the last tailLines lines,
then at most limitBytes of them."""

from __future__ import annotations

import pytest
from localcluster.kubeletlogs import log_tail

LOG = b"one\ntwo\nthree\nfour\n"


@pytest.mark.parametrize(("tail", "limit", "expected"), [
    (None, None, LOG),
    (2, None, b"three\nfour\n"),
    (10, None, LOG),
    (0, None, b""),
    (2, 8, b"three\nfo"),
    (None, 3, b"one"),
])
def test_log_tail(tail: int | None, limit: int | None, expected: bytes) -> None:
    assert log_tail(LOG, tail, limit) == expected


def test_a_last_line_without_newline_counts() -> None:
    assert log_tail(b"one\ntwo", 1, None) == b"two"

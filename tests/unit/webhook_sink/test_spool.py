from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from classroom_inference.serving.spool import Spool, SpoolUnavailable


def _seqs(records: list[bytes]) -> list[int]:
    return [json.loads(r)["seq"] for r in records]


def test_records_come_back_in_order_across_segments(tmp_path: Path, event: Any) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=4096)
    for i in range(500):
        assert spool.offer(event(i))
    assert spool.read(1000, 1 << 30)[0] == []  # nothing is readable before it is durable
    assert spool.flush()
    assert len(list(tmp_path.glob("*.seg"))) > 5
    seen: list[int] = []
    while True:
        records, position = spool.read(64, 1 << 30)
        if not records:
            break
        seen += _seqs(records)
        spool.commit(position)
    assert seen == list(range(500))
    assert spool.empty
    assert len(list(tmp_path.glob("*.seg"))) == 1  # delivered segments are deleted
    assert spool.size < 4096 + 200


def test_full_spool_refuses_new_records_and_keeps_old_ones(tmp_path: Path, event: Any) -> None:
    spool = Spool(tmp_path, max_bytes=8192, segment_bytes=4096)
    accepted = 0
    while spool.offer(event(accepted)):
        accepted += 1
    assert spool.refused == 1 and spool.full
    assert not spool.offer(event(10_000))
    spool.flush()
    assert spool.size <= 8192
    records, position = spool.read(10_000, 1 << 30)
    assert _seqs(records) == list(range(accepted))
    spool.commit(position)
    assert spool.offer(event(accepted))  # room again once delivered


def test_a_restart_resumes_at_the_cursor_and_cuts_a_torn_tail(tmp_path: Path,
                                                              event: Any) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16)
    for i in range(10):
        spool.offer(event(i))
    spool.flush()
    records, position = spool.read(4, 1 << 30)
    spool.commit(position)
    spool.close()
    segment = sorted(tmp_path.glob("*.seg"))[-1]
    with open(segment, "ab") as f:  # a crash in the middle of writing a record
        f.write(b"0badc0de {\"type\": \"ser")
    again = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16)
    assert again.last_record() == event(9)
    records, _ = again.read(100, 1 << 30)
    assert _seqs(records) == list(range(4, 10))
    again.offer(event(10))
    again.flush()
    assert _seqs(again.read(100, 1 << 30)[0]) == list(range(4, 11))


def test_a_corrupt_record_is_skipped_and_counted(tmp_path: Path, event: Any) -> None:
    spool = Spool(tmp_path, max_bytes=1 << 20, segment_bytes=1 << 16)
    for i in range(3):
        spool.offer(event(i))
    spool.flush()
    segment = sorted(tmp_path.glob("*.seg"))[0]
    data = bytearray(segment.read_bytes())
    second = data.index(b"\n") + 1
    data[second + 20] ^= 0x01  # one flipped bit in the second record
    segment.write_bytes(bytes(data))
    records, _ = spool.read(100, 1 << 30)
    assert _seqs(records) == [0, 2] and spool.corrupt == 1


def test_an_unwritable_folder_says_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the spool folder should be")
    with pytest.raises(SpoolUnavailable, match=r"not writable.*--spool-dir"):
        Spool(tmp_path / "taken" / "spool", max_bytes=1 << 20, segment_bytes=4096)

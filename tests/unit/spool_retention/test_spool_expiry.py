"""Retention with real segment files on disk and a clock the test moves (no sleeping)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from classroom_inference.serving.spool import Spool

T0 = 1_800_000_000.0
RETENTION = 800.0  # a segment spans at most 100 s


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def _record(seq: int) -> bytes:
    return json.dumps({"type": "series", "seq": seq, "classroom": "room-101"}).encode()


def _spool(folder: Path, clock: Clock) -> Spool:
    return Spool(folder, max_bytes=1 << 20, segment_bytes=4096, retention_seconds=RETENTION,
                 clock=clock)


def _write(spool: Spool, *seqs: int) -> None:
    for seq in seqs:
        assert spool.offer(_record(seq))
    spool.flush()


def _segment_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.glob("*.seg"))


def _seqs(spool: Spool) -> list[int]:
    records, _ = spool.read(1000, 1 << 20)
    return [json.loads(r)["seq"] for r in records]


def test_undelivered_records_go_when_their_segment_reaches_the_retention(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    _write(spool, 1, 2, 3)
    clock.now += 100  # the first segment has spanned its share of the retention
    _write(spool, 4, 5)
    assert len(_segment_files(tmp_path)) == 2
    size_before = spool.size

    clock.now = T0 + RETENTION - 1
    assert spool.expire().records == 0 and _seqs(spool) == [1, 2, 3, 4, 5]

    clock.now = T0 + RETENTION
    expired = spool.expire()
    assert expired.records == 3 and spool.expired == 3
    assert (json.loads(expired.first or b"")["seq"], json.loads(expired.last or b"")["seq"]) == (
        1, 3)
    assert len(_segment_files(tmp_path)) == 1  # the file is gone from disk, not just skipped
    assert _seqs(spool) == [4, 5]
    assert spool.size < size_before
    cursor = json.loads((tmp_path / "cursor").read_text())
    assert cursor == {"segment": 1, "offset": 0}


def test_only_what_was_not_delivered_is_counted(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    _write(spool, 1, 2, 3)
    _, after_first = spool.read(1, 1 << 20)
    spool.commit(after_first)  # seq 1 delivered
    clock.now += RETENTION
    expired = spool.expire()
    assert expired.records == 2 and json.loads(expired.first or b"")["seq"] == 2
    assert _seqs(spool) == [] and spool.empty


def test_an_idle_write_segment_expires_and_writing_goes_on(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    _write(spool, 1, 2)
    clock.now += RETENTION + 5  # nothing written since: the open segment must go too
    assert spool.expire().records == 2
    assert not any(f.stat().st_size for f in tmp_path.glob("*.seg"))
    _write(spool, 3)
    assert _seqs(spool) == [3]
    assert spool.expire().records == 0


def test_no_record_outlives_the_retention_while_writing_never_stops(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    written: dict[int, float] = {}
    seq = 0
    for _ in range(300):  # 3,000 s of a record every 10 s, nothing delivered
        seq += 1
        _write(spool, seq)
        written[seq] = clock.now
        clock.now += 10
        spool.expire()
        kept = _seqs(spool)
        assert all(clock.now - written[s] <= RETENTION for s in kept)
        # ... and nothing younger than 7/8 of it was dropped.
        assert all(s in kept for s, at in written.items() if clock.now - at < RETENTION * 7 / 8)
    assert spool.expired == seq - len(_seqs(spool))


def test_after_a_restart_old_segments_still_expire(tmp_path: Path) -> None:
    clock = Clock()
    spool = _spool(tmp_path, clock)
    _write(spool, 1, 2)
    spool.close()
    # The segment was last written "now" by the real clock; a restart only knows its mtime.
    for segment in tmp_path.glob("*.seg"):
        os.utime(segment, (T0, T0))
    clock.now = T0 + RETENTION * 7 / 8 - 1
    restarted = _spool(tmp_path, clock)
    assert restarted.expire().records == 0 and _seqs(restarted) == [1, 2]
    clock.now = T0 + RETENTION * 7 / 8
    assert restarted.expire().records == 2
    assert _seqs(restarted) == []

"""The on-disk spool: every event bound for the webhook, in order, until the sink has taken it.

Append-only segment files (`<n>.seg`, one record a line: `<crc32 hex> <json>\\n`), fsync'd by
`flush()`, and a `cursor` file naming the first undelivered record, replaced atomically on
`commit()`. A segment wholly delivered is deleted. After a crash, a torn last record is cut off
and delivery resumes at the cursor: at least once, in order (events carry `seq` for de-duplication).

Bounded in bytes. When full, new events are *refused* and counted, rather than the oldest being
overwritten: the oldest are the ones the receiver is waiting for in order, and a hole at the
start of the backlog is worse than a tail the pod reports (metrics, /v1/status, and an
`events-lost` record written as soon as there is room again).

Bounded in time too (`retention_seconds`, --spool-retention-seconds): a segment takes records for
at most an eighth of the retention, and `expire()` deletes a segment, delivered or not, once its
oldest record reaches the retention. So no record stays longer than the retention, and an
undelivered one is dropped no earlier than 7/8 of it; what was dropped is counted and returned,
so the receiver can be told (`events-lost`, reason `retention`).

How far behind delivery is (`oldest_undelivered_age`, the status document's
`sink.oldestUndeliveredSeconds`): each flush marks where its records start and when, at most one
mark per `retention / 8192` seconds (so a day's backlog costs a few thousand marks), and the age
of the oldest undelivered record is that of the last mark at or before the cursor: exact to
within the marks' spacing, never younger than the truth. After a restart the records from
before it are dated by their segment's start.

Not thread-safe except `offer()`: one I/O thread calls flush/read/commit/expire; the event loop
offers.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".seg"
DEFAULT_RETENTION_SECONDS = 86400.0
# A segment spans at most this share of the retention: the slack between 7/8 and the whole.
SEGMENT_SPAN_OF_RETENTION = 1 / 8
# Flush marks (for the age of the oldest undelivered record) are this share of the retention
# apart at least, and at least a second.
MARK_SPACING_OF_RETENTION = 1 / 8192


class SpoolUnavailable(OSError):
    """The spool folder cannot be created or written."""


@dataclass(frozen=True, order=True)
class Position:
    segment: int
    offset: int


@dataclass(frozen=True)
class Expired:
    """Undelivered records that `expire()` dropped: how many, and the oldest and newest."""

    records: int = 0
    first: bytes | None = None
    last: bytes | None = None


def _encode(record: bytes) -> bytes:
    return b"%08x %s\n" % (zlib.crc32(record), record)


def _decode(line: bytes) -> bytes | None:
    """The record of a complete line, or None when the line is torn or corrupt."""
    if len(line) < 10 or not line.endswith(b"\n") or line[8:9] != b" ":
        return None
    record = line[9:-1]
    try:
        crc = int(line[:8], 16)
    except ValueError:
        return None
    return record if zlib.crc32(record) == crc else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int, segment_bytes: int = 1 << 20,
                 retention_seconds: float = DEFAULT_RETENTION_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        if max_bytes < 2 * segment_bytes:
            raise ValueError("the spool must hold at least two segments")
        if not retention_seconds > 0:
            raise ValueError(f"the spool's retention is {retention_seconds!r} s; give more than 0")
        self.directory = directory
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self.retention_seconds = retention_seconds
        self.segment_span = retention_seconds * SEGMENT_SPAN_OF_RETENTION
        self._clock = clock
        self.refused = 0
        self.corrupt = 0
        self.expired = 0  # undelivered records dropped for their age
        self._started: dict[int, float] = {}  # segment -> when its oldest record was flushed
        self._lock = threading.Lock()
        self._buffer: list[bytes] = []
        self._buffered = 0
        self._buffered_since: float | None = None  # when the oldest unflushed record came
        # (where a flush's records start, when): the I/O thread's own.
        self._marks: deque[tuple[Position, float]] = deque()
        self._mark_spacing = max(1.0, retention_seconds * MARK_SPACING_OF_RETENTION)
        # When the oldest flushed, undelivered record was flushed; set by the I/O thread, read
        # by the event loop (one float: no lock needed).
        self._oldest_flushed_at: float | None = None
        try:
            directory.mkdir(parents=True, exist_ok=True)
            probe = directory / ".probe"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise SpoolUnavailable(
                f"the spool folder {directory} is not writable ({exc.strerror}); "
                "mount a writable volume there or pass --spool-dir"
            ) from exc
        self._recover()
        self._date_oldest()

    # --- opening ----------------------------------------------------------------------------

    def _segments(self) -> list[int]:
        return sorted(int(p.stem) for p in self.directory.glob(f"*{SEGMENT_SUFFIX}")
                      if p.stem.isdigit())

    def _path(self, segment: int) -> Path:
        return self.directory / f"{segment:016d}{SEGMENT_SUFFIX}"

    def _recover(self) -> None:
        segments = self._segments()
        self._cursor = self._load_cursor(segments)
        if not segments:
            segments = [self._cursor.segment]
            self._path(segments[0]).touch()
        last = segments[-1]
        data = self._path(last).read_bytes()
        good = 0
        for line in data.splitlines(keepends=True):
            if _decode(line) is None:
                break
            good += len(line)
        if good < len(data):
            log.warning("spool segment %s had a torn tail of %d bytes; cut off",
                        self._path(last).name, len(data) - good)
            with open(self._path(last), "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
        self._write_segment = last
        self._writer = open(self._path(last), "ab")  # noqa: SIM115 - lives as long as the spool
        self._durable = Position(last, good)
        self._disk = 0
        for segment in segments:
            st = self._path(segment).stat()
            self._disk += st.st_size
            if st.st_size:
                # Its last write is known, its first is not: at most a span before.
                self._started[segment] = st.st_mtime - self.segment_span

    def _load_cursor(self, segments: list[int]) -> Position:
        first = segments[0] if segments else 0
        try:
            doc = json.loads((self.directory / "cursor").read_text())
            cursor = Position(int(doc["segment"]), int(doc["offset"]))
        except FileNotFoundError:
            return Position(first, 0)
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("spool cursor unreadable (%s); delivering from the oldest record", exc)
            return Position(first, 0)
        return cursor if cursor.segment >= first else Position(first, 0)

    # --- the event loop's side --------------------------------------------------------------

    @property
    def size(self) -> int:
        """Bytes held: on disk (not yet deleted) plus offered and not yet flushed."""
        with self._lock:
            return self._disk + self._buffered

    @property
    def full(self) -> bool:
        """No room left for a typical event."""
        return self.size + 4096 > self.max_bytes

    def offer(self, record: bytes) -> bool:
        """Queue one record (JSON, no newline) for the next flush; False when the spool is full."""
        line = _encode(record)
        with self._lock:
            if self._disk + self._buffered + len(line) > self.max_bytes:
                self.refused += 1
                return False
            if not self._buffer:
                self._buffered_since = self._clock()
            self._buffer.append(line)
            self._buffered += len(line)
            return True

    @property
    def pending_flush(self) -> bool:
        with self._lock:
            return bool(self._buffer)

    # --- the I/O thread's side --------------------------------------------------------------

    def flush(self) -> bool:
        """Write and fsync what was offered; True when anything new became durable."""
        with self._lock:
            lines, self._buffer, self._buffered = self._buffer, [], 0
            self._disk += sum(len(line) for line in lines)
            buffered_since, self._buffered_since = self._buffered_since, None
        if not lines:
            return False
        now = self._clock()
        first: Position | None = None
        size = self._writer.tell()
        started = self._started.get(self._write_segment)
        if size and started is not None and now - started >= self.segment_span:
            self._rotate()
            size = 0
        for line in lines:
            if size >= self.segment_bytes:
                self._rotate()
                size = 0
            if size == 0:
                self._started[self._write_segment] = now
            if first is None:
                first = Position(self._write_segment, size)
            self._writer.write(line)
            size += len(line)
        self._writer.flush()
        os.fsync(self._writer.fileno())
        self._durable = Position(self._write_segment, size)
        stamp = buffered_since if buffered_since is not None else now
        if first is not None and (not self._marks
                                  or stamp - self._marks[-1][1] >= self._mark_spacing):
            self._marks.append((first, stamp))
        self._date_oldest()
        return True

    def _date_oldest(self) -> None:
        """Drop the marks the cursor has passed and date the oldest undelivered record."""
        while len(self._marks) > 1 and self._marks[1][0] <= self._cursor:
            self._marks.popleft()
        if self._cursor >= self._durable:
            self._oldest_flushed_at = None
        elif self._marks and self._marks[0][0] <= self._cursor:
            self._oldest_flushed_at = self._marks[0][1]
        else:  # records from before a restart
            self._oldest_flushed_at = self._started.get(self._cursor.segment,
                                                        self._marks[0][1] if self._marks
                                                        else self._clock())

    def oldest_undelivered_age(self) -> float | None:
        """Seconds the oldest record not yet delivered has waited; None when none waits."""
        with self._lock:
            since = self._buffered_since
        flushed = self._oldest_flushed_at
        oldest = min((t for t in (since, flushed) if t is not None), default=None)
        return None if oldest is None else max(0.0, self._clock() - oldest)

    def _rotate(self) -> None:
        self._writer.flush()
        os.fsync(self._writer.fileno())
        self._writer.close()
        self._write_segment += 1
        self._writer = open(self._path(self._write_segment), "ab")  # noqa: SIM115
        _fsync_dir(self.directory)

    def read(self, max_records: int, max_bytes: int) -> tuple[list[bytes], Position]:
        """Durable records from the cursor on, and the position just after the last one."""
        records: list[bytes] = []
        position, used = self._cursor, 0
        while len(records) < max_records and used < max_bytes and position < self._durable:
            # The write segment is read only up to what flush() made durable.
            end = self._durable.offset if position.segment == self._durable.segment else None
            try:
                f = open(self._path(position.segment), "rb")  # noqa: SIM115
            except FileNotFoundError:
                position = Position(position.segment + 1, 0)
                continue
            finished = False
            with f:
                f.seek(position.offset)
                while len(records) < max_records and used < max_bytes:
                    if end is not None and position.offset >= end:
                        break
                    line = f.readline()
                    if not line:
                        finished = end is None
                        break
                    position = Position(position.segment, position.offset + len(line))
                    record = _decode(line)
                    if record is None:
                        self.corrupt += 1
                        log.error("spool record before %s:%d is corrupt; skipped",
                                  f.name, position.offset)
                        continue
                    records.append(record)
                    used += len(record)
            if not finished:
                break
            position = Position(position.segment + 1, 0)
        return records, position

    def commit(self, position: Position) -> None:
        """Everything before `position` was delivered: remember it, delete finished segments."""
        self._write_cursor(position)
        self._date_oldest()
        freed = 0
        for segment in self._segments():
            if segment >= min(position.segment, self._write_segment):
                break
            freed += self._delete(segment)
        if freed:
            _fsync_dir(self.directory)
            with self._lock:
                self._disk -= freed

    def _write_cursor(self, position: Position) -> None:
        tmp = self.directory / "cursor.tmp"
        tmp.write_text(json.dumps({"segment": position.segment, "offset": position.offset}))
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.directory / "cursor")
        self._cursor = position

    def _delete(self, segment: int) -> int:
        path = self._path(segment)
        size = path.stat().st_size
        path.unlink()
        self._started.pop(segment, None)
        return size

    def expire(self) -> Expired:
        """Delete the segments whose oldest record reached the retention, delivered or not.

        Must not run between a `read()` and its `commit()`: the batch read would be dropped
        and then reported delivered.
        """
        now = self._clock()
        count, first, last = 0, None, None
        freed, newest = 0, None
        for segment in self._segments():
            started = self._started.get(segment)
            if started is None or now - started < self.retention_seconds:
                break
            if segment == self._write_segment:
                self._rotate()
                self._durable = Position(self._write_segment, 0)
            if segment >= self._cursor.segment:
                start = self._cursor.offset if segment == self._cursor.segment else 0
                for record in self._records(segment, start):
                    count += 1
                    first = first if first is not None else record
                    last = record
            freed += self._delete(segment)
            newest = segment
        if newest is None:
            return Expired()
        if self._cursor.segment <= newest:
            self._write_cursor(Position(newest + 1, 0))
        self._date_oldest()
        _fsync_dir(self.directory)
        with self._lock:
            self._disk -= freed
        self.expired += count
        if count:
            log.warning("dropped %d undelivered events older than the spool's retention of "
                        "%g s", count, self.retention_seconds)
        return Expired(count, first, last)

    def _records(self, segment: int, offset: int) -> list[bytes]:
        with open(self._path(segment), "rb") as f:
            f.seek(offset)
            return [r for r in map(_decode, f.read().splitlines(keepends=True)) if r is not None]

    @property
    def empty(self) -> bool:
        """Nothing offered, flushed or on disk is left undelivered."""
        return not self.pending_flush and self._cursor >= self._durable

    def last_record(self) -> bytes | None:
        """The newest durable record (to resume event numbering after a restart)."""
        for segment in reversed(self._segments()):
            lines = self._path(segment).read_bytes().splitlines(keepends=True)
            for line in reversed(lines):
                record = _decode(line)
                if record is not None:
                    return record
        return None

    def close(self) -> None:
        self._writer.close()

"""Small integer ids for the students a pod follows, so the hot path carries numbers, not names.

A crop is tagged with its student's id as it is written into a batch buffer; the batcher keeps the
ids in a numpy array beside the pixels, and the analysis uses them directly as the rows of its
per-student arrays. So no per-crop Python object or string travels from ingest to the analysis.

Ids are dense: a released id is handed out again, which keeps every per-student array as small as
the number of students followed at once. An id is released only once nothing can still carry it:
the analysis releases a stream's ids after the stream's queued crops were analysed, and a room
seat's id after the seat has been unseen for minutes (a tracker never reuses a seat number).
Lookups come from ingest threads and the event loop at once, so changes are made under a lock;
the common lookup (an id that exists) is a plain dict read.
"""

from __future__ import annotations

import threading


class StudentIds:
    def __init__(self) -> None:
        self._ids: dict[tuple[str, str], int] = {}
        self._keys: list[tuple[str, str] | None] = []
        self._free: list[int] = []
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """One more than the largest id handed out so far."""
        return len(self._keys)

    def of(self, stream_id: str, seat: str) -> int:
        """The id of (stream, seat), made on first use."""
        found = self._ids.get((stream_id, seat))
        if found is not None:
            return found
        with self._lock:
            found = self._ids.get((stream_id, seat))
            if found is not None:
                return found
            if self._free:
                found = self._free.pop()
                self._keys[found] = (stream_id, seat)
            else:
                found = len(self._keys)
                self._keys.append((stream_id, seat))
            self._ids[(stream_id, seat)] = found
            return found

    def key(self, student: int) -> tuple[str, str] | None:
        """(stream id, seat) of an id in use; None for one released or never handed out."""
        keys = self._keys
        return keys[student] if 0 <= student < len(keys) else None

    def of_stream(self, stream_id: str) -> list[int]:
        """Every id in use for a stream's students."""
        with self._lock:
            return [i for (s, _), i in self._ids.items() if s == stream_id]

    def release(self, student: int) -> None:
        with self._lock:
            key = self._keys[student]
            if key is None:
                return
            del self._ids[key]
            self._keys[student] = None
            self._free.append(student)

"""The outbox: the one place events get their order (`seq`) and leave for the SSE feed and sink.

Events refused by a full spool are remembered as a range, and an `events-lost` event naming it
goes to the webhook as soon as the spool has room again, so the receiver knows what it missed.
Events the spool dropped for their age (its retention) are named the same way, with reason
`retention`, behind the backlog that is still waiting: the receiver reads it once delivery resumes.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from classroom_inference.serving.events import EventHub
from classroom_inference.serving.sink import WebhookSink
from classroom_inference.serving.spool import Expired

# One encoder for every event: json.dumps with separators builds a new one per call, which
# doubled the cost of the thousands of series events a second a large pod publishes.
_COMPACT = json.JSONEncoder(separators=(",", ":"), allow_nan=False)


class Outbox:
    def __init__(self, hub: EventHub, sink: WebhookSink | None, *, first_seq: int = 1) -> None:
        self.hub = hub
        self.sink = sink
        self.next_seq = first_seq
        self.published: Counter[str] = Counter()
        self.lost = 0
        self._lost_range: tuple[int, int] | None = None
        self._expired: list[tuple[int, int, int]] = []  # (firstSeq, lastSeq, count) to report
        self.closed = False
        if sink is not None:
            sink.on_expired = self._on_expired

    def publish(self, event: dict[str, Any]) -> None:
        if self.closed:
            return
        delivering = self.sink is not None and self.sink.url is not None
        if delivering and self._expired:
            self._report_expired()
        if delivering and self._lost_range is not None:
            self._report_lost()  # numbered before this event, so `seq` order stays true
        seq = self._number(event)
        data = _COMPACT.encode(event).encode()
        self.published[event["type"]] += 1
        self.hub.publish(event["type"], event.get("classroom"), seq, data)
        if not delivering:
            return
        assert self.sink is not None
        # While a loss is not yet reported, later events are lost too: the receiver must never
        # see events after a hole it was not told about.
        if self._lost_range is not None or not self.sink.offer(data):
            self._lose(seq)

    def _number(self, event: dict[str, Any]) -> int:
        seq = self.next_seq
        self.next_seq += 1
        event["seq"] = seq
        return seq

    def _lose(self, seq: int) -> None:
        self.lost += 1
        first = self._lost_range[0] if self._lost_range else seq
        self._lost_range = (first, seq)

    def _report_lost(self) -> None:
        assert self._lost_range is not None and self.sink is not None
        first, last = self._lost_range
        marker = {"type": "events-lost", "reason": "spool-full", "firstSeq": first,
                  "lastSeq": last, "count": last - first + 1, "seq": self.next_seq}
        # Numbered only if it fits, so the lost range holds nothing but lost events.
        if self.sink.offer(_COMPACT.encode(marker).encode()):
            self.next_seq += 1
            self._lost_range = None

    def _on_expired(self, expired: Expired) -> None:
        assert expired.first is not None and expired.last is not None
        first, last = _seq_of(expired.first), _seq_of(expired.last)
        if first is None or last is None:
            return  # not our records: nothing a receiver could match them with
        self._expired.append((first, last, expired.records))
        if not self.closed:
            self._report_expired()

    def _report_expired(self) -> None:
        assert self.sink is not None
        while self._expired:
            first, last, count = self._expired[0]
            marker = {"type": "events-lost", "reason": "retention", "firstSeq": first,
                      "lastSeq": last, "count": count, "seq": self.next_seq}
            if not self.sink.offer(_COMPACT.encode(marker).encode()):
                return  # the spool is full: tried again with the next event
            self.next_seq += 1
            self._expired.pop(0)


def _seq_of(record: bytes) -> int | None:
    try:
        seq = json.loads(record)["seq"]
    except (ValueError, KeyError, TypeError):
        return None
    return seq if isinstance(seq, int) else None

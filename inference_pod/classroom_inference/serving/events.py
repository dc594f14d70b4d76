"""The live event stream: every event the pod emits, fanned out to SSE subscribers.

Each subscriber has its own bounded queue. Publishing never waits: a subscriber whose queue is
full is too slow to follow a live feed, so it is dropped (told so, then disconnected) instead of
holding back the analysis or growing memory.

The hub also keeps the last events it published (at most REPLAY_EVENTS, none older than the
spool's retention), so a subscriber that reconnects with `Last-Event-ID: <seq>` gets what it
missed while it was away: the held events after that seq, then the live feed. A `resumed` event
tells it how many were replayed and whether that was all of them (`complete` is false when the
hub no longer holds the event right after its seq, e.g. the pod restarted in between).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

QUEUE_EVENTS = 1024
KEEPALIVE_SECONDS = 15.0
# About 30 s of a pod serving ten rooms of thirty students, in a few MiB: enough to bridge a
# viewer's reconnect, not a store.
REPLAY_EVENTS = 8192


@dataclass(frozen=True)
class HeldEvent:
    seq: int
    kind: str
    classroom: str | None
    message: bytes
    at: float  # monotonic seconds


@dataclass(eq=False)
class Subscriber:
    classroom: str | None  # only this classroom's events; None: all
    types: frozenset[str] | None  # only these event types; None: all
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_EVENTS))
    dropped: bool = False
    # What a reconnecting subscriber missed, sent before anything from the queue.
    backlog: list[bytes] = field(default_factory=list)

    def wants(self, kind: str, classroom: str | None) -> bool:
        if self.types is not None and kind not in self.types:
            return False
        return self.classroom is None or classroom == self.classroom


class EventHub:
    def __init__(self, *, replay_events: int = REPLAY_EVENTS,
                 replay_seconds: float = 86400.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._subscribers: set[Subscriber] = set()
        self.dropped_subscribers = 0
        self._held: deque[HeldEvent] = deque(maxlen=replay_events)
        self._replay_seconds = replay_seconds
        self._clock = clock

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, classroom: str | None = None,
                  types: frozenset[str] | None = None,
                  after: int | None = None) -> Subscriber:
        """A new subscriber; with `after` (its Last-Event-ID), the held events after that seq
        come first, then a `resumed` event saying how many and whether that was all."""
        subscriber = Subscriber(classroom, types)
        if after is not None:
            self._forget_expired()
            replayed = [held.message for held in self._held
                        if held.seq > after and subscriber.wants(held.kind, held.classroom)]
            complete = bool(self._held) and self._held[0].seq <= after + 1
            subscriber.backlog = [*replayed, b"event: resumed\ndata: %s\n\n" % json.dumps(
                {"after": after, "replayed": len(replayed), "complete": complete},
                separators=(",", ":")).encode()]
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def _forget_expired(self) -> None:
        oldest = self._clock() - self._replay_seconds
        while self._held and self._held[0].at < oldest:
            self._held.popleft()

    def publish(self, kind: str, classroom: str | None, seq: int, data: bytes) -> None:
        message = b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), data)
        self._held.append(HeldEvent(seq, kind, classroom, message, self._clock()))
        self._forget_expired()
        if not self._subscribers:
            return
        for subscriber in list(self._subscribers):
            if not subscriber.wants(kind, classroom):
                continue
            try:
                subscriber.queue.put_nowait(message)
            except asyncio.QueueFull:
                self._drop(subscriber)

    def _drop(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)
        self.dropped_subscribers += 1
        subscriber.dropped = True
        # Make room for the sentinel: what it displaces was going to be lost with the link.
        subscriber.queue.get_nowait()
        subscriber.queue.put_nowait(None)

    def close(self) -> None:
        """Drain: end every stream after what it already has queued."""
        for subscriber in list(self._subscribers):
            self._subscribers.discard(subscriber)
            try:
                subscriber.queue.put_nowait(None)
            except asyncio.QueueFull:
                self._drop(subscriber)


async def messages(subscriber: Subscriber) -> AsyncIterator[bytes]:
    """SSE bytes for one subscriber: its events, keep-alive comments, and a final word."""
    yield b": classroom-inference live events\n\n"
    for missed in subscriber.backlog:
        yield missed
    subscriber.backlog = []
    while True:
        try:
            message = await asyncio.wait_for(subscriber.queue.get(), KEEPALIVE_SECONDS)
        except TimeoutError:
            yield b": keep-alive\n\n"
            continue
        if message is None:
            if subscriber.dropped:
                yield b"event: dropped\ndata: {\"reason\":\"too slow to follow the live feed\"}\n\n"
            return
        yield message

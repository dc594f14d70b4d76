"""The live event stream: every event the pod emits, fanned out to SSE subscribers.

Each subscriber has its own bounded queue. Publishing never waits: a subscriber whose queue is
full is too slow to follow a live feed, so it is dropped (told so, then disconnected) instead of
holding back the analysis or growing memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

QUEUE_EVENTS = 1024
KEEPALIVE_SECONDS = 15.0


@dataclass(eq=False)
class Subscriber:
    classroom: str | None  # only this classroom's events; None: all
    types: frozenset[str] | None  # only these event types; None: all
    queue: asyncio.Queue[bytes | None] = field(
        default_factory=lambda: asyncio.Queue(QUEUE_EVENTS))
    dropped: bool = False

    def wants(self, kind: str, classroom: str | None) -> bool:
        if self.types is not None and kind not in self.types:
            return False
        return self.classroom is None or classroom == self.classroom


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[Subscriber] = set()
        self.dropped_subscribers = 0

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    def subscribe(self, classroom: str | None = None,
                  types: frozenset[str] | None = None) -> Subscriber:
        subscriber = Subscriber(classroom, types)
        self._subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    def publish(self, kind: str, classroom: str | None, seq: int, data: bytes) -> None:
        if not self._subscribers:
            return
        message = b"id: %d\nevent: %s\ndata: %s\n\n" % (seq, kind.encode(), data)
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

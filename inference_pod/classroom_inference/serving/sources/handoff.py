"""Frames from a decoding thread to the event loop, without blocking the loop.

PyAV blocks while it reads and decodes, so each decoded stream has its own thread. The thread
waits for one of a few slots before handing a frame over; slots only run short when the event loop
itself is behind, and then the decoder (not the loop) waits. Dropping frames for a slow consumer is
the supervisor's job, in one place.
"""

from __future__ import annotations

import asyncio
import threading
from typing import Generic, TypeVar

T = TypeVar("T")

_END = object()


class Handoff(Generic[T]):
    def __init__(self, loop: asyncio.AbstractEventLoop, capacity: int = 2) -> None:
        self._loop = loop
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._slots = threading.Semaphore(capacity)
        self._closed = threading.Event()

    # The decoding thread's side.

    def put(self, item: T) -> bool:
        """Hand one item over; False once the consumer has gone (the thread should stop)."""
        while not self._slots.acquire(timeout=0.1):
            if self._closed.is_set():
                return False
        return self._send(item)

    def fail(self, error: BaseException) -> None:
        self._send(error)

    def end(self) -> None:
        self._send(_END)

    @property
    def closed(self) -> bool:
        return self._closed.is_set()

    def _send(self, item: object) -> bool:
        if self._closed.is_set():
            return False
        try:
            self._loop.call_soon_threadsafe(self._queue.put_nowait, item)
        except RuntimeError:  # the loop is closed: nobody will read
            self._closed.set()
            return False
        return True

    # The event loop's side.

    async def get(self) -> T | None:
        """The next item; None at the end; raises what the thread failed with."""
        item = await self._queue.get()
        if item is _END:
            return None
        if isinstance(item, BaseException):
            raise item
        self._slots.release()
        return item  # type: ignore[return-value]

    def close(self) -> None:
        self._closed.set()

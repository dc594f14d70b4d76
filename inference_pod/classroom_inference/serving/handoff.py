"""Calls from a worker thread to the event loop, handed over in bulk.

`loop.call_soon_threadsafe` for every result writes to the loop's wake-up pipe and wakes the loop
each time: a system call in the worker and a pass of the loop (a select, letting go of the GIL
and waiting to take it back) per batch. When the loop is behind, those passes are what it can
least afford. A handoff wakes the loop once for everything posted until the loop gets to it; the
loop then runs all of it, in the order posted.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


class Handoff:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._calls: deque[tuple[Callable[..., Any], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()
        self._woken = False  # the loop was asked to run what is posted and has not yet

    def post(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run fn(*args) on the loop, after everything posted before it (any thread)."""
        with self._lock:
            self._calls.append((fn, args))
            if self._woken:
                return
            self._woken = True
        self._loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        while True:
            with self._lock:
                if not self._calls:
                    self._woken = False
                    return
                calls = list(self._calls)
                self._calls.clear()
            for fn, args in calls:
                try:
                    fn(*args)
                except Exception:  # as the loop itself would: logged, the others still run
                    log.exception("a call handed to the event loop failed")

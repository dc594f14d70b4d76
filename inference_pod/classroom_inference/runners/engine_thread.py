"""One thread of its own for an engine whose state belongs to the thread that runs it.

ONNX Runtime's CUDA provider keeps its CUDA graphs per calling thread: graphs captured while the
engine warmed up in one thread are unknown to the next thread that runs it, which captures its
own, in the middle of serving, once per batch size and slot, with the GPU drained for each
capture. Engines like that run every batch on this one thread, whichever thread submits: the
batch's upload is queued by the caller, the engine and the download by this thread, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from classroom_inference.runners.base import RunnerError

T = TypeVar("T")


class EngineThread:
    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[tuple[Future[object], Callable[[], object]] | None] = (
            queue.SimpleQueue())
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def post(self, work: Callable[[], T]) -> Future[T]:
        """Run `work` on the engine thread after everything posted before it; its result or
        exception comes through the future."""
        if self._closed:
            raise RunnerError("the engine thread is closed")
        future: Future[T] = Future()
        self._jobs.put((future, work))  # type: ignore[arg-type]
        return future

    def call(self, work: Callable[[], T]) -> T:
        """Run `work` on the engine thread and wait for it."""
        return self.post(work).result()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            future, work = job
            try:
                future.set_result(work())
            except BaseException as exc:  # the caller gets it from the future
                future.set_exception(exc)

    def close(self) -> None:
        """Finish what was posted, then end the thread. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._jobs.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join()

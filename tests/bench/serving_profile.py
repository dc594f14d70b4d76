"""Where the serving pod's threads are, sampled: for the benchmark's --profile.

Every `every` seconds the sampler notes each thread's innermost frame and the innermost frame of
the pod's own code (classroom_inference) on its stack, counted by thread role (as
serving_pipeline.thread_cpu names them). A thread inside a C call that let go of the GIL (a CUDA
wait, a copy, a sleep) shows that call's Python line; one holding the GIL shows the Python it
runs. The sampler needs the GIL to look, so a thread that hogs it is seen a little late, never
missed.
"""

from __future__ import annotations

import sys
import threading
from collections import Counter, defaultdict
from types import FrameType
from typing import Any

POD_CODE = "classroom_inference"


def role(name: str) -> str:
    if name.startswith("synthetic-clock"):
        return "synthetic-clock"
    return "event loop" if name == "MainThread" else name


def _where(frame: FrameType) -> str:
    code = frame.f_code
    path = code.co_filename
    short = path[path.rindex(POD_CODE):] if POD_CODE in path else path.rsplit("/", 1)[-1]
    return f"{short}:{frame.f_lineno} {code.co_name}"


class Sampler:
    def __init__(self, every: float = 0.005) -> None:
        self.every = every
        self.samples: dict[str, Counter[str]] = defaultdict(Counter)
        self.pod_frames: dict[str, Counter[str]] = defaultdict(Counter)
        self.rounds = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-sampler", daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        me = threading.get_ident()
        while not self._stop.wait(self.every):
            names = {t.ident: t.name for t in threading.enumerate()}
            self.rounds += 1
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                who = role(names.get(ident, "other"))
                self.samples[who][_where(frame)] += 1
                inner: FrameType | None = frame
                while inner is not None and POD_CODE not in inner.f_code.co_filename:
                    inner = inner.f_back
                if inner is not None:
                    self.pod_frames[who][_where(inner)] += 1

    def report(self, top: int = 8) -> dict[str, Any]:
        """Per role: the most seen innermost frames and pod frames, as shares of the samples."""
        def shares(counts: Counter[str]) -> list[list[Any]]:
            return [[where, round(n / max(self.rounds, 1), 3)]
                    for where, n in counts.most_common(top)]

        return {"samplesTaken": self.rounds, "everySeconds": self.every,
                "innermost": {r: shares(c) for r, c in self.samples.items()},
                "podCode": {r: shares(c) for r, c in self.pod_frames.items()}}


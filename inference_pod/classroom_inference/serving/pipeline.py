"""The serving pod's lifecycle: load, warm up, ready, run, drain, stop.

load     open the engine (<store>/<fingerprint> or --engine-dir) with the runner meta.json names
warm up  run the engine at its profile's batch sizes, so the first real batch pays no set-up cost
ready    the first good assignment is applied: its streams start; /readyz turns 200
run      per stream, in the thread that decodes it: frame -> face crops written straight into
         the batcher's buffers (intake.py), supervised (reconnects, state) from the event loop;
         the batcher's thread sends batches to the engine; each batch's heads come back to the
         loop once: analysis -> outbox (SSE feed, spool, webhook). Nothing runs per frame or per
         crop on the loop. The assignment file is followed; streams come and go.
drain    on SIGTERM: /readyz 503, stop intake, finish queued crops and batches in flight, close
         the open summaries, end SSE streams, flush the spool and deliver it while time allows
stop     release the engine
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from classroom_inference.runners import Runner, open_runner
from classroom_inference.serving.analysis import Analysis
from classroom_inference.serving.assignment import (
    AnalysisSettings,
    Assignment,
    AssignmentFollower,
    StreamAssignment,
)
from classroom_inference.serving.batcher import Batch, Batcher
from classroom_inference.serving.credentials import StreamCredentials
from classroom_inference.serving.crops import CropShape, cropper_for
from classroom_inference.serving.events import EventHub
from classroom_inference.serving.frames import StreamState
from classroom_inference.serving.intake import StreamIntake, intake_for
from classroom_inference.serving.metrics import PodMetrics
from classroom_inference.serving.outbox import Outbox
from classroom_inference.serving.policy import InferencePolicy
from classroom_inference.serving.pseudonym import Pseudonyms
from classroom_inference.serving.sink import Envelope, WebhookSink
from classroom_inference.serving.spool import Spool
from classroom_inference.serving.status import readings
from classroom_inference.serving.streams import StreamSupervisor
from classroom_inference.serving.students import StudentIds

log = logging.getLogger(__name__)

TICK_SECONDS = 0.25
# This many failed batches in a row and the pod stops calling itself ready.
FAILING_ENGINE_BATCHES = 10
# Streams started between two turns of the event loop while an assignment is applied.
START_SLICE = 100


@dataclass(frozen=True)
class PodSettings:
    engine_dir: Path
    assignment: Path
    pod_name: str
    id_secret: str
    spool_dir: Path
    sink_token: str | None = None
    api_token: str | None = None  # CLASSROOM_POD_API_TOKEN: guards /v1/status and /v1/events
    sink_signing_key: bytes | None = None
    stream_credentials: Path | None = None
    policy: InferencePolicy = field(default_factory=InferencePolicy)
    backend: str | None = None
    spool_max_bytes: int = 256 << 20
    spool_retention_seconds: float = 86400.0
    max_delay_seconds: float = 0.01
    drain_seconds: float = 20.0
    assignment_poll_seconds: float = 1.0
    # sys.setswitchinterval for the pod's process (None leaves the interpreter's 5 ms): a
    # thread back from a CUDA call or a copy waits up to this long for the GIL while others
    # run Python. Measured on a 16-core H200 node, copy-only pod at 270,000 crops/s offered:
    # 106,000 labelled a second with 5 ms, 120,000 with 0.5 ms, no better with 0.1 ms.
    gil_switch_seconds: float | None = 0.0005


@dataclass(eq=False)
class StreamRun:
    """One assigned stream being served: its supervisor and its way into the batcher."""

    assignment: StreamAssignment
    supervisor: StreamSupervisor
    intake: StreamIntake
    failed_since: float | None = None  # when the ticker first saw the stream Failed
    lost: bool = False  # the analysis was told the stream failed


class Pod:
    """`open_engine` opens the runner (runners.open_runner unless a benchmark brings its own)."""

    def __init__(self, settings: PodSettings, *,
                 open_engine: Callable[[Path, str | None], Runner] = open_runner) -> None:
        self.settings = settings
        self._open_engine = open_engine
        self.phase = "Starting"
        self.runner: Runner | None = None
        self.analysis: Analysis | None = None
        self.batcher: Batcher | None = None
        self.hub = EventHub(replay_seconds=settings.spool_retention_seconds)
        self.sink: WebhookSink | None = None
        self.outbox = Outbox(self.hub, None)
        self.follower = AssignmentFollower(settings.assignment, settings.pod_name, self._apply,
                                           poll_seconds=settings.assignment_poll_seconds)
        self.pseudonyms = Pseudonyms(settings.id_secret)
        self.credentials = StreamCredentials(settings.stream_credentials,
                                             poll_seconds=settings.assignment_poll_seconds)
        self.streams: dict[str, StreamRun] = {}
        self.leaving: dict[str, StreamRun] = {}  # removed, until their intake is stopped
        self.students = StudentIds()
        self.crops_of_removed: Counter[str] = Counter()  # by classroom, for the crops counter
        self.frames_of_removed: Counter[str] = Counter()  # by classroom, for the frames counter
        self.metrics = PodMetrics(lambda: readings(self), model="", fingerprint="")
        self.failure: str | None = None  # why a task the pod cannot live without ended
        self._delivered = asyncio.Event()  # pulsed as each batch reaches the analysis
        self._failing: set[str] = set()  # streams that failed, until they are healthy again
        self._removals: dict[str, asyncio.Task[None]] = {}
        self._sink_task: asyncio.Task[None] | None = None
        self._batcher_task: asyncio.Task[None] | None = None
        self._background: list[asyncio.Task[None]] = []  # stopped first when draining
        self._detect = ThreadPoolExecutor(2, thread_name_prefix="face-detect")
        self._wall_offset = time.time() - time.monotonic()

    # --- lifecycle ------------------------------------------------------------------------

    async def start(self) -> None:
        """Load and warm the engine, open the spool, apply the assignment, start serving."""
        self.phase = "Loading"
        if self.settings.gil_switch_seconds is not None:
            sys.setswitchinterval(self.settings.gil_switch_seconds)
        runner = self._open_engine(self.settings.engine_dir, self.settings.backend)
        self.metrics.fingerprint = runner.meta.fingerprint
        await asyncio.to_thread(runner.load)
        self.runner = runner
        self.phase = "WarmingUp"
        await asyncio.to_thread(runner.warm_up)
        spool = await asyncio.to_thread(
            Spool, self.settings.spool_dir, max_bytes=self.settings.spool_max_bytes,
            retention_seconds=self.settings.spool_retention_seconds)
        self.sink = WebhookSink(spool, token=self.settings.sink_token, envelope=Envelope(
            self.settings.pod_name, "", runner.meta.fingerprint),
            signing_key=self.settings.sink_signing_key)
        self.outbox = Outbox(self.hub, self.sink, first_seq=_next_seq(spool))
        now = time.monotonic()
        heads = self.settings.policy.heads(runner.heads)
        self.analysis = Analysis(
            AnalysisSettings(),  # until the assignment, applied below, says otherwise
            heads, runner.meta.emotion_labels if "emotion" in heads else (), self.outbox.publish,
            self.pseudonyms.student, now=now, wall_offset=self._wall_offset,
            students=self.students)
        self.batcher = Batcher(runner, self._on_batch, max_delay=self.settings.max_delay_seconds)
        self._sink_task = self._spawn(self.sink.run(), "webhook sink")
        self._batcher_task = self._spawn(self.batcher.run(), "batcher")
        self._background.append(self._spawn(self._tick(), "ticker"))
        self.phase = "WaitingForAssignment"
        self.credentials.check()
        if self.credentials.configured:
            self._background.append(self._spawn(self.credentials.run(), "credentials follower"))
        await self.follower.check()
        self._background.append(self._spawn(self.follower.run(), "assignment follower"))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        task.add_done_callback(self._task_ended)
        return task

    def _task_ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled() or self.phase in ("Draining", "Stopped"):
            return
        error = task.exception()
        self.failure = f"{task.get_name()} ended: {error!r}" if error else (
            f"{task.get_name()} ended")
        log.error("the pod cannot go on: %s", self.failure, exc_info=error)

    @property
    def ready(self) -> tuple[bool, str]:
        if self.failure:
            return False, self.failure
        if self.phase != "Ready":
            return False, {"Loading": "loading the engine", "WarmingUp": "warming up the engine",
                           "WaitingForAssignment": "no usable assignment yet",
                           }.get(self.phase, self.phase.lower())
        if self.batcher and self.batcher.stats.consecutive_failures >= FAILING_ENGINE_BATCHES:
            return False, f"the engine is failing: {self.batcher.stats.last_error}"
        return True, "ready"

    @property
    def alive(self) -> bool:
        return self.failure is None

    async def drain(self) -> bool:
        """Stop intake and finish everything in flight; True when every event was delivered."""
        if self.phase in ("Draining", "Stopped"):
            return False
        self.phase = "Draining"
        log.info("draining: intake stops, queued crops finish, the spool is flushed")
        for task in self._background:
            task.cancel()
        if self.batcher is not None:
            # Intake stops for every stream at once; what is queued is still sent. Stopping
            # thousands of streams one by one while they still fed the engine kept the loop,
            # which stops them, busy with their batches for seconds.
            self.batcher.close()
        runs = list(self.streams.values())
        self.streams.clear()
        await asyncio.gather(*(self._stop_stream(run) for run in runs),
                             *self._removals.values(), return_exceptions=True)
        delivered = True
        if self.batcher is not None and self._batcher_task is not None:
            await asyncio.gather(self._batcher_task, return_exceptions=True)
        if self.analysis is not None:
            self.analysis.finish(time.monotonic())
        self.outbox.closed = True
        self.hub.close()
        if self.sink is not None and self._sink_task is not None:
            delivered = await self.sink.drain(self._sink_task, self.settings.drain_seconds)
            log.info("spool %s", "delivered" if delivered else
                     "kept on disk for the next start (the sink did not take it in time)")
        if self.runner is not None:
            await asyncio.to_thread(self.runner.close)
        self._detect.shutdown(wait=False)
        self.phase = "Stopped"
        return delivered

    # --- the assignment -------------------------------------------------------------------

    async def _apply(self, assignment: Assignment) -> None:
        assert self.analysis is not None  # the follower runs only once start() made it
        if assignment.fingerprint != (self.runner.meta.fingerprint if self.runner else None):
            log.warning("the assignment is for engine %s; this pod serves %s (a rollout is "
                        "under way)", assignment.fingerprint, self.runner and
                        self.runner.meta.fingerprint)
        self.analysis.settings = assignment.analysis
        if self.sink is not None:
            self.sink.envelope = Envelope(self.settings.pod_name, assignment.model,
                                          self.sink.envelope.fingerprint)
            self.sink.set_url(assignment.sink_url)
        self.metrics.model = assignment.model
        wanted = assignment.streams
        for sid, run in list(self.streams.items()):
            if wanted.get(sid) != run.assignment:
                # A changed url, layout or classroom is another stream under the same id: the
                # old one leaves now, and the new one starts below once the old one is gone.
                del self.streams[sid]
                self.leaving[sid] = run
                self._removals[sid] = asyncio.create_task(self._remove(run))
        starting = [stream for sid, stream in wanted.items() if sid not in self.streams]
        for first in range(0, len(starting), START_SLICE):
            for stream in starting[first:first + START_SLICE]:
                await self._start_stream(stream)
            # Thousands of streams start in slices, so probes and batches are answered
            # between them instead of after the whole assignment.
            await asyncio.sleep(0)
        if self.phase == "WaitingForAssignment":
            self.phase = "Ready"
        if not self._removals:
            _freeze_long_lived()
        log.info("assignment generation %d applied: %d classrooms, %d streams",
                 assignment.generation, len(assignment.classrooms), len(wanted))

    async def _start_stream(self, stream: StreamAssignment) -> None:
        removal = self._removals.get(stream.id)
        if removal is not None:  # the same id is coming back: let the old one finish first
            await removal
        assert self.analysis is not None and self.runner is not None and self.batcher is not None
        self.analysis.add_stream(stream.id, stream.classroom, stream.layout, time.monotonic())
        shape = CropShape(*self.runner.input_shape)
        cropper = cropper_for(stream.layout, shape, executor=self._detect)
        intake = intake_for(stream.id, cropper, shape, self.batcher, self.students)
        supervisor = StreamSupervisor(stream.id, stream.url, intake, on_failure=self._failing.add,
                                      connect=self.credentials.connect)
        supervisor.start()
        self.streams[stream.id] = StreamRun(stream, supervisor, intake)

    async def _stop_stream(self, run: StreamRun) -> None:
        await run.supervisor.stop()
        run.intake.close()  # a frame being taken in is queued; nothing after it
        self.crops_of_removed[run.assignment.classroom] += run.intake.crops
        self.frames_of_removed[run.assignment.classroom] += run.intake.frames
        if self.leaving.get(run.assignment.id) is run:
            del self.leaving[run.assignment.id]

    async def _remove(self, run: StreamRun) -> None:
        """A stream left the assignment (or changed): stop intake, let its queued crops
        finish, forget it."""
        sid = run.assignment.id
        try:
            await self._stop_stream(run)
            await self._settled(sid)
            assert self.analysis is not None
            self.analysis.remove_stream(sid, time.monotonic())
        finally:
            self._removals.pop(sid, None)
            if not self._removals and self.phase == "Ready":
                _freeze_long_lived()

    def _on_its_way(self, sid: str) -> bool:
        """Whether a crop of the stream is still between its intake and the analysis."""
        assert self.batcher is not None
        return self.batcher.holds(self.students.of_stream(sid))

    async def _settled(self, sid: str) -> None:
        while self._on_its_way(sid):
            self._delivered.clear()
            # A batch that failed in the engine settles its crops without being delivered.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._delivered.wait(), TICK_SECONDS)

    # --- results: once per batch, on the event loop ---------------------------------------

    def _on_batch(self, batch: Batch) -> None:
        assert self.analysis is not None
        start = time.monotonic()
        # The policy's drop comes first: a forbidden head never reaches the analysis.
        self.analysis.observe(batch.students, batch.arrived,
                              self.settings.policy.outputs(batch.outputs))
        done = time.monotonic()
        n = len(batch.students)
        stages = self.metrics.stages
        stages.observe(batch.written - batch.arrived, "crop")
        stages.observe(batch.submitted - batch.written, "queue")
        stages.observe_repeated(batch.infer_seconds, n, "infer")
        stages.observe_repeated((done - start) / max(n, 1), n, "analyse")
        stages.observe(done - batch.arrived, "label")
        self.metrics.batch_sizes.observe_repeated(float(n), 1)
        self._delivered.set()

    async def _tick(self) -> None:
        assert self.analysis is not None
        while True:
            now = time.monotonic()
            # Only streams that failed are looked at: with thousands of streams, a pass over
            # all of them four times a second cost the event loop more than their batches.
            for sid in list(self._failing):
                run = self.streams.get(sid)
                if run is None or run.supervisor.state != StreamState.FAILED:
                    self._failing.discard(sid)
                    if run is not None:
                        run.failed_since, run.lost = None, False
                elif run.failed_since is None:
                    run.failed_since = now
                elif (not run.lost and now - run.failed_since >= TICK_SECONDS
                      and not self._on_its_way(sid)):
                    # Only once the frames decoded before the failure were analysed: one of them
                    # arriving after would read as the camera coming back.
                    self.analysis.stream_lost(sid, now)
                    run.lost = True
            self.analysis.tick(now)
            await asyncio.sleep(TICK_SECONDS)


def _freeze_long_lived() -> None:
    """Once an assignment is in place: its objects (thousands of streams' supervisors, intakes,
    rows) live as long as it does, so they leave the garbage collector's full scans, which
    otherwise stalled the event loop for 100 ms and more at a few thousand streams. The streams
    that left are collected first (one full collection, now, at an assignment change), so
    nothing they held stays frozen for ever."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()


def _next_seq(spool: Spool) -> int:
    """Event numbers go on from the last one spooled, so a restart never reuses one."""
    last = spool.last_record()
    if last is None:
        return 1
    with contextlib.suppress(ValueError, KeyError, TypeError):
        return int(json.loads(last)["seq"]) + 1
    return 1

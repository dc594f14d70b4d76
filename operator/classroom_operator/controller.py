"""The controller machinery around kopf, and the operator's live state (kept in kopf's memo).

kopf gives watches, indexes and one daemon per ClassroomModel; what controller-runtime adds on
top of its informers is built here, once, with these rules:

- Work queue. Each model's engine loop (`run_model_loop`) waits on its own event in `Wakeups`;
  anything that concerns a model (its spec, a node of its placement, a build Job or pod of its
  engines, one of its pools or pods, a Classroom of its namespace) wakes it. A wake-up waits
  `WAKE_DEBOUNCE` seconds to gather a burst into one pass; a pass asks for the next one after
  its own delay (kopf.TemporaryError's delay, or the planners' wake_after), and there is a pass
  every `resync_seconds` in any case. The woken models are the queue depth metric.
- Reconcile slots. At most `RECONCILE_SLOTS` passes run at once; a model woken again while it
  waits for a slot reconciles once for all its wake-ups. A pass that something asked for (a
  wake-up, the first pass, a pass's own delay) takes a free slot before the resync passes
  waiting (`ReconcileSlots`): a thousand models resyncing must not queue a change behind them.
- Expectations (jobs just created, `CreatedJobs`). A build Job created here counts as existing
  until the watch shows that very Job (same uid), it is deleted here, or its ttl passes; so no
  pass posts it twice, or plans the next attempt, before the watch catches up.
- Recent writes (`RecentWrites`). A write many loops would make from the same view (the same new
  engine for twenty models) is claimed by the first; the others skip it while the claim is
  fresh. A claim whose write fails is dropped, so the next pass writes again.
- Write batchers. `DataWrites` sends the catalogue's keys in as few patches as the API allows;
  `Coalesced` serves the node changes that arrive during a pass with the next pass.
- Engines being collected (`OperatorState.collecting`). An engine due for collection is
  collected by one loop; it stays claimed until the watched catalogue no longer lists it.
- Each build outcome is counted once (`OperatorState.counted_jobs`, by Job uid).
- Refused writes (`Refusals`). A write the API server refuses for a model (a 4xx other than
  409 and 429: the object is invalid, forbidden, over a quota) fails the same way when repeated,
  so the model's Job and pool writes are held back and tried again after an exponential backoff
  (`REFUSAL_BACKOFF` doubling up to `REFUSAL_BACKOFF_CAP`), at once when the spec changes; the
  passes between still compute and write the status, which names the refused write.

All of it is in-process: a restart forgets it and converges from what the watches show, because
every write it guards is idempotent (names from fingerprints, create-or-exists, uid
preconditions on deletes).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import kopf

from classroom_operator.engines.build_progress import StepReads
from classroom_operator.engines.build_results import JobView
from classroom_operator.engines.catalogue import NAME as CATALOGUE
from classroom_operator.engines.inventory import NodeGpu, Outlook
from classroom_operator.kube import Kube
from classroom_operator.metrics import Metrics
from classroom_operator.names import ModelKey
from classroom_operator.pod_client import PodClient
from classroom_operator.settings import Settings
from classroom_operator.spec import Placement
from classroom_operator.status import RefusedWrite

T = TypeVar("T", bound=Hashable)
# A burst of events (a rolling relabel) is taken in one pass rather than one per event.
WAKE_DEBOUNCE = 0.2
# Engine loops reconciling at once. A thousand models woken together would otherwise all be
# runnable at every turn of the event loop, and each await of a build Job's creation would wait
# behind a round of a thousand plans; a few at a time keep the loop's turns short, and a model
# woken again while it waits for a slot reconciles once for all its wake-ups. (Measured at 1,000
# models on 2 cores: 32 slots made 2,247 status patches instead of ~1,500 and slowed everything.)
RECONCILE_SLOTS = 8
# A model's writes that the API server refused are tried again after this, doubling each time.
REFUSAL_BACKOFF = 5.0
REFUSAL_BACKOFF_CAP = 300.0


class Wakeups:
    """One event per ClassroomModel's engine loop; setting it makes that model reconcile now.

    kopf cannot ask for another object's handlers to run. Patching an annotation on every
    affected ClassroomModel would cost a write (and a watch event) per model per node change,
    which at a thousand models is a storm; an in-process event per model costs nothing, and the
    engine loop of each model (a kopf daemon, leader-only under peering) re-reads the indexes.
    """

    def __init__(self, metrics: Metrics) -> None:
        self._events: dict[ModelKey, asyncio.Event] = {}
        # The woken ones, so the queue depth is a count, not a walk over every model per call.
        self._woken: set[ModelKey] = set()
        self._metrics = metrics

    def register(self, key: ModelKey) -> asyncio.Event:
        event = self._events.setdefault(key, asyncio.Event())
        return event

    def unregister(self, key: ModelKey) -> None:
        self._events.pop(key, None)
        self._woken.discard(key)
        self._update_depth()

    def wake(self, keys: Iterable[ModelKey]) -> None:
        for key in keys:
            event = self._events.get(key)
            if event is not None:
                event.set()
                self._woken.add(key)
        self._update_depth()

    def done(self, key: ModelKey) -> None:
        event = self._events.get(key)
        if event is not None:
            event.clear()
        self._woken.discard(key)
        self._update_depth()

    def _update_depth(self) -> None:
        self._metrics.queue_depth.set(len(self._woken))


class ReconcileSlots:
    """At most `slots` passes at once; a freed slot goes to the longest-waiting urgent pass, and
    to a resync pass only when no urgent one waits. A resync pass whose model is woken while it
    waits becomes urgent."""

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._urgent: deque[asyncio.Future[None]] = deque()
        self._resync: deque[asyncio.Future[None]] = deque()

    @contextlib.asynccontextmanager
    async def slot(self, *, urgent: bool, wake: asyncio.Event) -> AsyncIterator[None]:
        if self._free > 0 and not self._urgent and not self._resync:
            self._free -= 1
        else:
            waiting: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            queue = self._urgent if urgent else self._resync
            queue.append(waiting)
            try:
                if not urgent:
                    woken: asyncio.Future[Any] = asyncio.ensure_future(wake.wait())
                    either: list[asyncio.Future[Any]] = [waiting, woken]
                    try:
                        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        woken.cancel()
                    if not waiting.done():
                        queue.remove(waiting)
                        queue = self._urgent
                        queue.append(waiting)
                await waiting
            except asyncio.CancelledError:
                if waiting.done() and not waiting.cancelled():
                    self._release()  # handed a slot just as it was cancelled: pass it on
                else:
                    queue.remove(waiting)
                raise
        try:
            yield
        finally:
            self._release()

    def _release(self) -> None:
        for queue in (self._urgent, self._resync):
            while queue:
                waiting = queue.popleft()
                if not waiting.done():
                    waiting.set_result(None)
                    return
        self._free += 1


class RecentWrites:
    """Writes made moments ago that the watches may not show yet.

    A thousand engine loops share one process and one view of the cluster: when twenty models
    need the same new engine, all twenty see it missing until the watch brings the first write
    back. The first loop claims the write; the others skip it while the claim is fresh. A claim
    that fails is dropped so the next pass writes again.
    """

    def __init__(self, ttl: float = 10.0) -> None:
        self.ttl = ttl
        self._claims: dict[str, tuple[str, float]] = {}

    def claim(self, key: str, value: str = "") -> bool:
        now = time.monotonic()
        held = self._claims.get(key)
        if held is not None and held[0] == value and now - held[1] < self.ttl:
            return False
        if len(self._claims) > 4096:
            self._claims = {k: v for k, v in self._claims.items() if now - v[1] < self.ttl}
        self._claims[key] = (value, now)
        return True

    def drop(self, key: str) -> None:
        self._claims.pop(key, None)


class CreatedJobs:
    """Build Jobs this process created that the jobs index may not show yet.

    Without it, every engine loop that reconciles before the watch brings a new Job back finds
    it missing: it posts it again (a conflict each), or, its status already saying Building,
    plans the next attempt. A Job created here counts as existing until the index shows that
    very Job (from then on the index is the truth), it is deleted here, or `ttl` seconds pass
    (someone else deleted it before the watch ever showed it).
    """

    def __init__(self, ttl: float = 120.0) -> None:
        self.ttl = ttl
        self._jobs: dict[str, tuple[JobView, float]] = {}

    def add(self, view: JobView) -> None:
        self._jobs[view.fingerprint] = (view, time.monotonic())

    def forget(self, fingerprint: str) -> None:
        self._jobs.pop(fingerprint, None)

    def merged(self, indexed: Mapping[str, JobView]) -> dict[str, JobView]:
        """The index's Jobs, with the ones created here that it does not show yet."""
        now = time.monotonic()
        for fingerprint, (view, at) in list(self._jobs.items()):
            shown = indexed.get(fingerprint)
            if (shown is not None and shown.uid == view.uid) or now - at >= self.ttl:
                del self._jobs[fingerprint]
        return {**indexed, **{fingerprint: view for fingerprint, (view, _) in self._jobs.items()}}


@dataclass(frozen=True)
class Refusal:
    """The writes refused for one model at one generation, and when to try them again."""

    generation: int
    writes: tuple[RefusedWrite, ...]
    attempts: int
    retry_at: float  # time.monotonic()

    def holding(self, now: float) -> bool:
        return now < self.retry_at


class Refusals:
    """Per model, the last refused writes; a new generation forgets them (retry at once)."""

    def __init__(self) -> None:
        self._by_model: dict[ModelKey, Refusal] = {}

    def of(self, key: ModelKey, generation: int) -> Refusal | None:
        refusal = self._by_model.get(key)
        if refusal is not None and refusal.generation != generation:
            del self._by_model[key]
            return None
        return refusal

    def record(self, key: ModelKey, generation: int, writes: tuple[RefusedWrite, ...], *,
               same_attempt: bool = False) -> Refusal:
        """The writes refused at an attempt; with `same_attempt`, more of the attempt already
        recorded (its backoff stays)."""
        before = self.of(key, generation)
        if same_attempt and before is not None:
            refusal = Refusal(generation, writes, before.attempts, before.retry_at)
            self._by_model[key] = refusal
            return refusal
        attempts = 1 if before is None else before.attempts + 1
        delay = min(REFUSAL_BACKOFF_CAP, REFUSAL_BACKOFF * 2 ** (attempts - 1))
        refusal = Refusal(generation, writes, attempts, time.monotonic() + delay)
        self._by_model[key] = refusal
        return refusal

    def clear(self, key: ModelKey) -> None:
        self._by_model.pop(key, None)


class Coalesced(Generic[T]):
    """Requests that arrive while a pass runs are served together by the next pass.

    Fifty nodes relabelled at once give fifty node events; each asks for a pass over the
    placements it touched, and one or two passes serve them all. A caller returns once a pass
    that took its items has finished; when that pass failed, its items go back to be retried
    by the next caller, and the error goes to the caller whose pass it was.
    """

    def __init__(self) -> None:
        self._pending: set[T] = set()
        self._lock = asyncio.Lock()

    async def run(self, items: Iterable[T], act: Callable[[set[T]], Awaitable[object]]) -> None:
        mine = set(items)
        if not mine:
            return
        self._pending |= mine
        async with self._lock:
            if not mine & self._pending:
                return
            taken, self._pending = self._pending, set()
            try:
                await act(taken)
            except BaseException:
                self._pending |= taken
                raise


class DataWrites:
    """Keys of one ConfigMap's data, written in as few patches as the API allows.

    Every engine loop records its engines in the one catalogue ConfigMap; a patch each would
    queue hundreds of writes to one object, each retried by the API server on conflict. Keys
    that arrive while a patch is in flight go together in the next one; a caller returns once
    its keys are written (or raises the error that stopped them).
    """

    def __init__(self, patch: Callable[[dict[str, str | None]], Awaitable[object]]) -> None:
        self._patch = patch
        self._pending: dict[str, str | None] = {}
        self._lock = asyncio.Lock()

    async def write(self, data: Mapping[str, str | None]) -> None:
        self._pending.update(data)
        async with self._lock:
            if not any(key in self._pending for key in data):
                return
            taken, self._pending = self._pending, {}
            try:
                await self._patch(taken)
            except BaseException:
                self._pending = {**taken, **self._pending}
                raise


@dataclass
class OperatorState:
    settings: Settings
    kube: Kube
    metrics: Metrics
    wakeups: Wakeups
    catalogue_uid: str | None = None
    recent: RecentWrites = field(default_factory=RecentWrites)
    # The last snapshot of each node, to tell a change that matters from GFD's heartbeats.
    nodes: dict[str, NodeGpu] = field(default_factory=dict)
    # Engines ready and needed per model, summed into the gauges.
    engine_counts: dict[ModelKey, tuple[int, int]] = field(default_factory=dict)
    # Engines being collected right now, so concurrent engine loops start one cleanup each.
    collecting: set[str] = field(default_factory=set)
    # Build Jobs whose outcome the counters already hold (by uid), so each counts once.
    counted_jobs: set[str] = field(default_factory=set)
    # The HTTP client that reads the inference pods' /v1/status.
    pods: PodClient = field(default_factory=PodClient)
    created_jobs: CreatedJobs = field(default_factory=CreatedJobs)
    refusals: Refusals = field(default_factory=Refusals)
    # Per model, since when each pod's webhook deliveries have been seen failing.
    sinks_failing: dict[ModelKey, dict[str, float]] = field(default_factory=dict)
    # Each Classroom's labels and spec as last seen, so its status writes wake no model.
    classrooms_seen: dict[tuple[str, str], str] = field(default_factory=dict)
    # Node changes' build passes, over the placements the changes touched, and what each
    # placement's nodes looked like to its engines at its last pass (node_changes.Outlook).
    node_passes: Coalesced[Placement] = field(default_factory=Coalesced)
    outlooks: dict[Placement, Outlook] = field(default_factory=dict)
    reconcile_slots: ReconcileSlots = field(
        default_factory=lambda: ReconcileSlots(RECONCILE_SLOTS))
    catalogue_writes: DataWrites = field(init=False)
    # Running builds' last step and when their logs were read (one read per build per interval).
    build_steps: StepReads = field(init=False)

    def __post_init__(self) -> None:
        self.catalogue_writes = DataWrites(self._patch_catalogue)
        self.build_steps = StepReads(self.settings.build_progress_seconds)

    async def _patch_catalogue(self, data: dict[str, str | None]) -> bool:
        return await self.kube.patch_configmap_data(self.settings.namespace, CATALOGUE, data)

    def set_engine_counts(self, key: ModelKey, ready: int, needed: int) -> None:
        self.engine_counts[key] = (ready, needed)
        self._update_gauges()

    def forget(self, key: ModelKey) -> None:
        self.engine_counts.pop(key, None)
        self.refusals.clear(key)
        self.sinks_failing.pop(key, None)
        self._update_gauges()
        self.metrics.forget_model(*key)

    def _update_gauges(self) -> None:
        self.metrics.engines_ready.set(sum(r for r, _ in self.engine_counts.values()))
        self.metrics.engines_needed.set(sum(n for _, n in self.engine_counts.values()))


async def _sleep(stopped: kopf.DaemonStopped, wake: asyncio.Event, seconds: float) -> bool:
    """Until woken, stopped, or `seconds` pass; a wake-up waits a moment to gather a burst.
    True when woken."""
    waiters = [asyncio.ensure_future(wake.wait()), asyncio.ensure_future(stopped.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in waiters:
            waiter.cancel()
    if wake.is_set() and not stopped:
        await stopped.wait(WAKE_DEBOUNCE)
        return True
    return False


async def run_model_loop(state: OperatorState, key: ModelKey, stopped: kopf.DaemonStopped,
                         logger: kopf.Logger,
                         one_pass: Callable[[], Awaitable[float | None]]) -> None:
    """A model's engine loop: `one_pass` in a reconcile slot whenever the model is woken, and at
    least once a resync period, until the daemon is stopped. `one_pass` returns when to look
    again (seconds), or None for the resync period."""
    wake = state.wakeups.register(key)
    resync = state.settings.resync_seconds
    urgent = True  # the first pass, a wake-up, or a pass's own delay; else the resync period
    try:
        while not stopped:
            try:
                async with state.reconcile_slots.slot(urgent=urgent, wake=wake):
                    if stopped:  # stopped while waiting for a slot: the model is going
                        break
                    state.wakeups.done(key)
                    delay = await one_pass()
            except kopf.TemporaryError as error:
                logger.warning(f"will retry: {error}")
                delay = error.delay
            except Exception as error:  # the loop must outlive any one failed pass
                logger.exception(f"reconcile failed: {error}")
                delay = resync
            asked = delay is not None and delay < resync
            woken = await _sleep(stopped, wake, min(delay, resync) if delay is not None else resync)
            urgent = woken or asked
    finally:
        state.wakeups.unregister(key)
        state.forget(key)

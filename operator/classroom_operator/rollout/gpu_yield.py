"""When an old pool gives up a GPU so that its model's new engine can be built or served (pure).

A pool holds one GPU per pod until its successor is ready (make before break). On a cluster
whose GPUs of a class are all taken by the model's own old pool, the new engine's build pod,
and later its new pool's pods, wait for a GPU that only the old pool can free: a deadlock.
So when a pod of a new engine of this model (its build, or a pod of its new pool) has found no
node for `wait_seconds` because GPUs are short, an old pool of the same GPUs (same class
whatever its driver) gives up one pod. Only the model's own pools give GPUs up: another
model's classrooms are never cut for this model's change, and its own loop would take the
GPU straight back.

At most one GPU is given up per GPU class at a time: the next only once the pod given up is
gone and the new engine's pod has waited `wait_seconds` again, so a GPU being freed is never
mistaken for none. Each yield is recorded on the pool's StatefulSet (pool_views.YieldRecord)
and says what it costs: an old pool still serving with other pods moves the given-up pod's
classrooms onto them (the assignment planner hands them over first); one left without pods,
or one already being replaced, leaves those classrooms unserved until their new pods are
Ready.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from classroom_operator.engines.planning import EngineRecord
from classroom_operator.rollout.pool_views import PoolObject, ServingPod, YieldRecord
from classroom_operator.rollout.pools import GPU_RESOURCE

# The scheduler's word when no node has the extended resource left.
SHORT_OF_GPUS = f"Insufficient {GPU_RESOURCE}"


def hardware(gpu_class: str) -> str:
    """The GPUs of a class, whatever their driver."""
    return re.sub(r"-drv\d+$", "", gpu_class)


@dataclass(frozen=True)
class Blocked:
    """A pod of a new engine of the model that the scheduler cannot place."""

    gpu_class: str
    waiting: str  # "engine <fingerprint>" or "pool <name>"
    what: str  # the pod, in words
    reason: str  # the scheduler's message
    since: float  # seconds since the epoch

    @property
    def short_of_gpus(self) -> bool:
        return SHORT_OF_GPUS in self.reason


@dataclass(frozen=True)
class GpuYield:
    """One old pool giving up one more GPU, and the record it keeps."""

    pool: str
    record: YieldRecord
    blocked: Blocked


def blocked_builds(records: Iterable[EngineRecord]) -> list[Blocked]:
    """Builds of the model's engines that wait for a node."""
    return [Blocked(r.gpu_class, f"engine {r.fingerprint}", f"the build of engine "
                    f"{r.fingerprint} ({r.gpu_class})", r.message.removeprefix(
                        "the build pod cannot be scheduled: "), r.unschedulable_since.timestamp())
            for r in records if r.state == "Building" and r.reason == "Unschedulable"
            and r.unschedulable_since is not None]


def blocked_pods(pods: Iterable[ServingPod], pools: Mapping[str, str]) -> list[Blocked]:
    """Pods of the model's new pools (`pools`: name -> GPU class) that wait for a node."""
    return [Blocked(pools[pod.pool], f"pool {pod.pool}", f"pod {pod.name}",
                    pod.waiting.removeprefix("Unschedulable: "), pod.unschedulable_since)
            for pod in pods if pod.pool in pools and pod.unschedulable_since is not None]


def _giving(pool: PoolObject, pods: Sequence[ServingPod]) -> bool:
    """A GPU given up earlier is still held: the pool runs more pods than its record says."""
    record = pool.gpu_yield
    if record is None:
        return False
    return pool.replicas > record.replicas or any(
        pod.pool == pool.name and pod.name.rpartition("-")[2].isdigit()
        and int(pod.name.rpartition("-")[2]) >= record.replicas for pod in pods)


def plan_yields(blocked: Iterable[Blocked], old_pools: Collection[PoolObject],
                pods: Sequence[ServingPod], *, now: float,
                wait_seconds: float) -> tuple[GpuYield, ...]:
    """The old pools that give up one GPU now: at most one per GPU class."""
    yields: list[GpuYield] = []
    done: set[str] = set()
    for stuck in sorted(blocked, key=lambda b: (b.since, b.what)):
        gpus = hardware(stuck.gpu_class)
        if gpus in done or not stuck.short_of_gpus:
            continue
        candidates = [p for p in old_pools if hardware(p.gpu_class) == gpus]
        if any(_giving(p, pods) for p in candidates):
            continue
        last = max((p.gpu_yield.at for p in candidates if p.gpu_yield), default=0.0)
        if now - max(stuck.since, last) < wait_seconds:
            continue
        running = [p for p in candidates if _running(p) > 0]
        if not running:
            continue
        # The pool with the most pods left gives one: its classrooms have most room to move.
        pool = max(running, key=lambda p: (_running(p), p.name))
        before = pool.gpu_yield.before if pool.gpu_yield else pool.replicas
        record = YieldRecord(before=before, replicas=_running(pool) - 1, at=now,
                             waiting=stuck.waiting, reason=stuck.reason)
        yields.append(GpuYield(pool.name, record, stuck))
        done.add(gpus)
    return tuple(yields)


def _running(pool: PoolObject) -> int:
    return pool.gpu_yield.replicas if pool.gpu_yield else pool.replicas


def yield_note(pool: str, record: YieldRecord) -> str:
    """What status says about a pool that gave GPUs up."""
    cost = "; its classrooms are unserved until then" if record.replicas == 0 else ""
    return (f"pool {pool} runs {record.replicas} of {record.before} pods until "
            f"{record.waiting} is ready, whose pods found no GPU ({record.reason}){cost}")

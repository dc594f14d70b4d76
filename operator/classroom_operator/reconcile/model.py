"""One reconcile pass of a ClassroomModel's engines: read indexes, plan, write, report.

Everything decided here comes from the pure planners (engines.py, status.py); this module only
gathers their inputs from kopf's indexes and applies their writes through kube.py, in an order
that is safe to cut anywhere: Jobs and catalogue first, status last, so a restart re-plans from
what exists and creates nothing twice (Job names are fingerprints).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

import kopf

from classroom_operator.controller import ModelKey, OperatorState
from classroom_operator.engines.build_jobs import EngineNeed, build_job, job_name
from classroom_operator.engines.build_results import JobView, PodView, build_outcome, job_view
from classroom_operator.engines.catalogue import (
    CatalogueEntry,
    catalogue_reference,
    cleanup_job,
    due_for_collection,
    owner_reference,
    released,
)
from classroom_operator.engines.inventory import InventoryView, NodeGpu, view_for
from classroom_operator.engines.planning import (
    EngineRecord,
    ModelPlan,
    RetryJob,
    World,
    plan_model,
    record_from_status,
)
from classroom_operator.reconcile.rollout import (
    RolloutIndexes,
    RolloutStatus,
    parse_rollout_spec,
    roll_out,
)
from classroom_operator.rollout.pools import ModelRef
from classroom_operator.spec import ModelSpec, SpecError, parse_spec
from classroom_operator.status import model_status, status_patch

V = TypeVar("V")
R = TypeVar("R")
Index = Mapping[Any, Iterable[V]]


def first(index: Index[V], key: Any) -> V | None:
    return next(iter(index.get(key, ())), None)


def world_of(state: OperatorState, catalogue: Index[CatalogueEntry], jobs: Index[JobView],
             pods: Index[PodView]) -> World:
    """What the indexes show, plus the Jobs this process created that they do not show yet."""
    return World(
        catalogue={fp: entry for fp, store in catalogue.items() for entry in store},
        jobs=state.created_jobs.merged({fp: job for fp, store in jobs.items() for job in store}),
        pods={fp: tuple(store) for fp, store in pods.items()},
    )


def previous_records(status: Mapping[str, Any]) -> dict[str, EngineRecord]:
    records = {}
    for item in status.get("engines") or []:
        record = record_from_status(item) if isinstance(item, Mapping) else None
        if record is not None:
            records[record.fingerprint] = record
    return records


def other_users(users: Index[ModelKey], fingerprint: str, key: ModelKey) -> set[ModelKey]:
    return {user for user in users.get(fingerprint, ()) if user != key}


async def release_engines(state: OperatorState, fingerprints: Iterable[str], *, key: ModelKey,
                          users: Index[ModelKey], catalogue: Index[CatalogueEntry],
                          body: kopf.Body) -> list[str]:
    """Let go of engines this model no longer needs: the last user stops their builds and starts
    the engines' grace period in the catalogue. Returns the fingerprints released."""
    namespace = state.settings.namespace
    now = datetime.now(UTC)
    released_now = []
    for fingerprint in fingerprints:
        if other_users(users, fingerprint, key):
            continue
        state.created_jobs.forget(fingerprint)
        await state.kube.delete_job(namespace, job_name(fingerprint))
        entry = first(catalogue, fingerprint)
        if entry is not None and entry.released_at is None:
            await write_catalogue(state, released(entry, now))
        kopf.event(body, type="Normal", reason="EngineReleased",
                   message=f"engine {fingerprint} is no longer needed; it is removed from the "
                           f"store after {state.settings.engine_gc_seconds:.0f}s unless needed "
                           "again")
        released_now.append(fingerprint)
    return released_now


async def write_catalogue(state: OperatorState, entry: CatalogueEntry) -> None:
    """Set one engine's catalogue record, unless the same was written a moment ago."""
    text = entry.to_json()
    claim = f"catalogue/{entry.fingerprint}"
    if not state.recent.claim(claim, text):
        return
    try:
        await state.catalogue_writes.write({entry.fingerprint: text})
    except BaseException:
        state.recent.drop(claim)
        raise


async def collect_unused(state: OperatorState, *, catalogue: Index[CatalogueEntry],
                         users: Index[ModelKey], serving: Index[str]) -> list[str]:
    """Remove engines unused for the grace period: a cleanup Job deletes their store folder,
    their build Job goes, and the catalogue forgets them. Every engine loop may call this; the
    in-process `collecting` set and the deterministic names keep it to one of each."""
    due = due_for_collection(
        (entry for store in catalogue.values() for entry in store),
        needed={fp for fp, models in users.items() if models},
        serving={fp for fp, pods in serving.items() if pods},
        now=datetime.now(UTC), grace_seconds=state.settings.engine_gc_seconds)
    namespace = state.settings.namespace
    # Done once the catalogue (as watched) no longer lists it.
    state.collecting.intersection_update(fp for fp, entries in catalogue.items() if entries)
    collected = []
    for fingerprint in due:
        if fingerprint in state.collecting:
            continue
        state.collecting.add(fingerprint)
        try:
            gpu_class = next(iter(catalogue[fingerprint])).gpu_class
            await state.kube.create_job(
                cleanup_job(fingerprint, state.settings, state.catalogue_uid))
            state.created_jobs.forget(fingerprint)
            await state.kube.delete_job(namespace, job_name(fingerprint))
            await state.catalogue_writes.write({fingerprint: None})
        except BaseException:
            state.collecting.discard(fingerprint)
            raise
        state.metrics.engines_collected.inc()
        reference = cast(kopf.RawBody, catalogue_reference(namespace, state.catalogue_uid))
        kopf.event(kopf.Body(reference), type="Normal",
                   reason="EngineCollected",
                   message=f"engine {fingerprint} ({gpu_class}) was unused for "
                           f"{state.settings.engine_gc_seconds:.0f}s; a cleanup Job removes it "
                           "from the store")
        collected.append(fingerprint)
    return collected


async def all_of(writes: Sequence[Awaitable[R]]) -> list[R]:
    """Run `writes` side by side, each to its end; then raise the first error, if any (a failed
    write must not leave the others' errors unread)."""
    results = await asyncio.gather(*writes, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast(list[R], results)


async def start_build(state: OperatorState, need: EngineNeed, spec: ModelSpec, *, attempt: int,
                      requested_by: ModelKey, about: kopf.Body,
                      replacing: str | None = None) -> bool | None:
    """Create a build Job (after deleting the failed attempt `replacing`, by uid). True when
    created, False when one of that name exists, None when another loop has just done it."""
    claim = f"job/{need.fingerprint}/{attempt}"
    if not state.recent.claim(claim):
        return None
    owner = owner_reference(state.catalogue_uid) if state.catalogue_uid else None
    job = build_job(need, spec, state.settings, attempt=attempt,
                    requested_by=f"{requested_by[0]}/{requested_by[1]}", owner=owner)
    try:
        if replacing is not None:
            state.created_jobs.forget(need.fingerprint)
            await state.kube.delete_job(state.settings.namespace, job_name(need.fingerprint),
                                        uid=replacing)
        created = await state.kube.create_job(job)
    except BaseException:
        state.recent.drop(claim)
        raise
    if created is not None:
        state.created_jobs.add(job_view(created["metadata"], created.get("status") or {}))
    else:
        # A Job of that name exists: the others may skip it until the watch shows it; but a
        # retry that found the failed attempt not yet gone must be able to come back soon.
        if replacing is not None:
            state.recent.drop(claim)
        return False
    state.metrics.builds_started.labels(need.gpu.name).inc()
    verb = "retrying" if replacing is not None else "building"
    kopf.event(about, type="Normal", reason="BuildStarted",
               message=f"{verb} engine {need.fingerprint} for {need.gpu.name} ({need.backend}), "
                       f"attempt {attempt}")
    return True


async def _apply_jobs(state: OperatorState, plan: ModelPlan, spec: ModelSpec, key: ModelKey,
                      body: kopf.Body) -> float | None:
    """Start the plan's builds side by side: a model's engines do not wait for each other."""
    replacing = [action.failed_uid if isinstance(action, RetryJob) else None
                 for action in plan.jobs]
    created = await all_of([
        start_build(state, action.need, spec, attempt=action.attempt, requested_by=key,
                    about=body, replacing=old)
        for action, old in zip(plan.jobs, replacing, strict=True)])
    # A failed attempt's Job still being removed: create the next one shortly.
    return 1.0 if any(made is False and old is not None
                      for made, old in zip(created, replacing, strict=True)) else None


def _count_outcomes(state: OperatorState, world: World, fingerprints: Iterable[str]) -> None:
    for fingerprint in fingerprints:
        job = world.jobs.get(fingerprint)
        if job is None or not (job.succeeded or job.failed) or job.uid in state.counted_jobs:
            continue
        state.counted_jobs.add(job.uid)
        outcome = build_outcome(job, world.pods.get(fingerprint, ()))
        if outcome.state == "Ready":
            state.metrics.builds_succeeded.labels(job.gpu_class).inc()
        else:
            state.metrics.builds_failed.labels(job.gpu_class, outcome.reason).inc()


def _post_transitions(body: kopf.Body, previous: Mapping[str, EngineRecord],
                      records: Sequence[EngineRecord]) -> None:
    """One event when every engine is ready (not one per engine: a thousand models with six
    engines each would post six thousand), and one per failed build."""
    ready = [r for r in records if r.state == "Ready"]
    if records and len(ready) == len(records) and any(
            previous.get(r.fingerprint) is None or previous[r.fingerprint].state != "Ready"
            for r in records):
        kopf.event(body, type="Normal", reason="EnginesReady",
                   message=f"all {len(records)} engines are built and validated: "
                           + ", ".join(sorted(r.gpu_class for r in records)))
    for record in records:
        before = previous.get(record.fingerprint)
        if record.state == "Failed" and (before is None or before.state != "Failed"):
            kopf.event(body, type="Warning", reason="BuildFailed",
                       message=f"engine {record.fingerprint} for {record.gpu_class}: "
                               f"{record.reason}: {record.message}")


async def reconcile_model(state: OperatorState, *, key: ModelKey, body: kopf.Body,
                          nodes: Index[NodeGpu], catalogue: Index[CatalogueEntry],
                          jobs: Index[JobView], pods: Index[PodView], users: Index[ModelKey],
                          rollout: RolloutIndexes, logger: kopf.Logger) -> float | None:
    """Bring one model's engines and pools a step closer to wanted; returns when to look again
    (seconds)."""
    started = time.monotonic()
    live: Mapping[str, Any] = body.get("status") or {}
    generation = int(body.metadata.get("generation") or 0)
    previous = previous_records(live)
    now = datetime.now(UTC)
    try:
        spec: ModelSpec | None = parse_spec(body.spec)
        pod_settings = parse_rollout_spec(body.spec)
        spec_error = None
    except SpecError as error:
        spec, spec_error = None, str(error)
    world = world_of(state, catalogue, jobs, pods)
    all_nodes = [node for store in nodes.values() for node in store]
    wake_after: float | None = None
    serving: RolloutStatus | None = None
    if spec is None:
        # Keep what was built; nothing is released or rebuilt until the spec is usable again.
        view = InventoryView()
        records = tuple(previous.values())
    else:
        view = view_for(all_nodes, spec.serving.placement)
        plan = plan_model(spec, view, previous,
                          generation_changed=generation != live.get("observedGeneration"),
                          world=world, now=now, settings=state.settings)
        retry_soon = await _apply_jobs(state, plan, spec, key, body)
        for entry in plan.catalogue:
            await write_catalogue(state, entry)
        await release_engines(state, plan.released, key=key, users=users, catalogue=catalogue,
                              body=body)
        _count_outcomes(state, world, (r.fingerprint for r in plan.records))
        records = plan.records
        # Pools are rolled out from the engines as they stand after this pass's writes.
        serving = await roll_out(
            state.kube, state.pods, state.settings, state.metrics,
            model=ModelRef(key[0], key[1], str(body.metadata.get("uid"))),
            generation=generation, body=body, spec=spec, pod_settings=pod_settings,
            records=records, view=view, indexes=rollout)
        wake_after = min((d for d in (plan.wake_after, retry_soon, serving.wake_after)
                          if d is not None), default=None)
    desired = model_status(records, view, previous=live, generation=generation,
                           spec_error=spec_error, now=now, serving=serving)
    patch = status_patch(live, desired)
    if patch:
        await state.kube.patch_model_status(key[0], key[1], patch)
        _post_transitions(body, previous, records)
    state.set_engine_counts(key, desired["enginesReady"], desired["enginesNeeded"])
    state.metrics.reconcile_seconds.observe(time.monotonic() - started)
    logger.debug(f"reconciled: {desired['summary']['engines']} engines ready, "
                 f"{len(patch)} status fields changed")
    return wake_after

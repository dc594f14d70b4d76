"""The engines' writes: build Jobs, the catalogue, releasing and collecting engines.

Each write is idempotent and claimed in the controller's records (controller.py), so a
thousand engine loops sharing one view of the cluster write each thing once: Job names are
fingerprints, a Job just created counts as existing until the watch shows it, and catalogue
keys go out in as few patches as the API allows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable, Sequence
from datetime import UTC, datetime
from typing import TypeVar, cast

import kopf

from classroom_operator.controller import OperatorState
from classroom_operator.engines.build_jobs import EngineNeed, build_job, job_name
from classroom_operator.engines.build_results import JobView, PodView, job_view
from classroom_operator.engines.catalogue import (
    CatalogueEntry,
    catalogue_reference,
    cleanup_job,
    due_for_collection,
    is_cleanup_of,
    owner_reference,
    released,
)
from classroom_operator.engines.planning import World
from classroom_operator.indexes import EngineIndexes, Index, first
from classroom_operator.kube import writing
from classroom_operator.names import ModelKey
from classroom_operator.spec import ModelSpec

R = TypeVar("R")


def world_of(state: OperatorState, catalogue: Index[CatalogueEntry], jobs: Index[JobView],
             pods: Index[PodView]) -> World:
    """What the indexes show, plus the Jobs this process created that they do not show yet."""
    return World(
        catalogue={fp: entry for fp, store in catalogue.items() for entry in store},
        jobs=state.created_jobs.merged({fp: job for fp, store in jobs.items() for job in store}),
        pods={fp: tuple(store) for fp, store in pods.items()},
    )


def other_users(users: Index[ModelKey], fingerprint: str, key: ModelKey) -> set[ModelKey]:
    return {user for user in users.get(fingerprint, ()) if user != key}


async def release_engines(state: OperatorState, fingerprints: Iterable[str], *, key: ModelKey,
                          indexes: EngineIndexes, body: kopf.Body) -> list[str]:
    """Let go of engines this model no longer needs: the last user stops their builds and starts
    the engines' grace period in the catalogue. Returns the fingerprints released."""
    namespace = state.settings.namespace
    now = datetime.now(UTC)
    released_now = []
    for fingerprint in fingerprints:
        if other_users(indexes.users, fingerprint, key):
            continue
        state.created_jobs.forget(fingerprint)
        await state.kube.delete_job(namespace, job_name(fingerprint))
        entry = first(indexes.catalogue, fingerprint)
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


async def collect_unused(state: OperatorState, indexes: EngineIndexes) -> list[str]:
    """Remove engines unused for the grace period: a cleanup Job deletes their store folder,
    their build Job goes, and the catalogue forgets them. Every engine loop may call this; the
    in-process `collecting` set and the deterministic names keep it to one of each."""
    catalogue = indexes.catalogue
    due = due_for_collection(
        (entry for store in catalogue.values() for entry in store),
        needed={fp for fp, models in indexes.users.items() if models},
        serving={fp for fp, pods in indexes.serving.items() if pods},
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
            entry = next(iter(catalogue[fingerprint]))
            gpu_class = entry.gpu_class
            await _start_cleanup(state, entry)
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


async def _start_cleanup(state: OperatorState, entry: CatalogueEntry) -> None:
    """Create this grace cycle's cleanup Job; a Job of its name that exists counts only when it
    is this cycle's (its annotation), so the catalogue key is never dropped on the strength of
    another cycle's Job."""
    job = cleanup_job(entry, state.settings, state.catalogue_uid)
    if await state.kube.create_job(job) is not None:
        return
    namespace, name = job["metadata"]["namespace"], job["metadata"]["name"]
    existing = await state.kube.get_job(namespace, name)
    if existing is None:
        raise kopf.TemporaryError(f"cleanup Job {name} was removed while it was being created; "
                                  "creating it again", delay=5)
    if not is_cleanup_of(existing, entry):
        raise kopf.TemporaryError(f"Job {namespace}/{name} exists but is not the cleanup of "
                                  f"engine {entry.fingerprint} for this grace period; delete it "
                                  "so the engine can be removed from the store", delay=60)


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
        with writing(f"Job {job['metadata']['namespace']}/{job['metadata']['name']}"):
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

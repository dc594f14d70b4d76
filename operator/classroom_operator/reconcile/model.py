"""One reconcile pass of a ClassroomModel's engines: read indexes, plan, write, report.

Everything decided here comes from the pure planners (engines/planning.py, rollout/, status.py);
this module only gathers their inputs from kopf's indexes and applies their writes through
kube.py (reconcile/builds.py, reconcile/rollout.py), in an order that is safe to cut anywhere:
Jobs and catalogue first, status last, so a restart re-plans from what exists and creates
nothing twice (Job names are fingerprints).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import kopf

from classroom_operator.conditions import Condition
from classroom_operator.controller import OperatorState, Refusal
from classroom_operator.engines.build_results import build_outcome
from classroom_operator.engines.inventory import InventoryView, view_for
from classroom_operator.engines.planning import (
    EngineRecord,
    ModelPlan,
    RetryJob,
    World,
    plan_model,
    previous_records,
)
from classroom_operator.indexes import EngineIndexes, RolloutIndexes
from classroom_operator.kube import KubeError, WriteRefusedError, writing
from classroom_operator.names import API_VERSION, ModelKey
from classroom_operator.reconcile.build_progress import with_progress
from classroom_operator.reconcile.builds import (
    all_of,
    release_engines,
    start_build,
    world_of,
    write_catalogue,
)
from classroom_operator.reconcile.rollout import ModelPass, roll_out
from classroom_operator.rollout.pools import ModelRef
from classroom_operator.spec import ModelSpec, SpecError, parse_model
from classroom_operator.status import (
    RefusedWrite,
    RolloutStatus,
    degraded_condition,
    merge_conditions,
    model_status,
    ready_condition,
    status_patch,
)

log = logging.getLogger(__name__)


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
            seconds = outcome.figures.get("buildSeconds")
            if isinstance(seconds, int | float):
                state.metrics.build_seconds.labels(job.gpu_class).observe(seconds)
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
        warnings = record.figures.get("warnings") or []
        if record.state == "Ready" and warnings and (before is None or before.state != "Ready"):
            kopf.event(body, type="Warning", reason="EngineWarning",
                       message=f"engine {record.fingerprint} for {record.gpu_class} passed its "
                               f"validation, but the builder warns: {'; '.join(warnings)}")
        if record.state == "Failed" and (before is None or before.state != "Failed"):
            kopf.event(body, type="Warning", reason="BuildFailed",
                       message=f"engine {record.fingerprint} for {record.gpu_class}: "
                               f"{record.reason}: {record.message}")


def _log_decisions(key: ModelKey, uid: str, plan: ModelPlan, patch: Mapping[str, Any]) -> None:
    """One line per pass that decided something, carrying the model it concerns as the
    operator's JSON logs carry kopf's own object lines (the `object` key)."""
    if not (plan.jobs or plan.released or patch):
        return
    log.info("reconcile: %d build Jobs to start, %d engines released, status fields changed: %s",
             len(plan.jobs), len(plan.released), ", ".join(sorted(patch)) or "none",
             extra={"k8s_ref": {"apiVersion": API_VERSION, "kind": "ClassroomModel",
                                "namespace": key[0], "name": key[1], "uid": uid}})


def _refused(state: OperatorState, key: ModelKey, generation: int,
             refused: Sequence[RefusedWrite], body: kopf.Body) -> Refusal:
    """Remember refused writes for the backoff, and tell them in a Warning event each time
    they are tried and refused."""
    refusal = state.refusals.record(key, generation, tuple(refused))
    _announce(state, key, generation, refused, body)
    return refusal


def _announce(state: OperatorState, key: ModelKey, generation: int,
              refused: Sequence[RefusedWrite], body: kopf.Body) -> None:
    retry = _delay(state, key, generation)
    for write in refused:
        kopf.event(body, type="Warning", reason="WriteRefused",
                   message=f"the API server refused {write.describe()}; tried again in "
                           f"{retry:.0f}s or when the spec changes")


def _delay(state: OperatorState, key: ModelKey, generation: int) -> float:
    refusal = state.refusals.of(key, generation)
    return max(1.0, refusal.retry_at - time.monotonic()) if refusal else 5.0


async def _status_refused(state: OperatorState, key: ModelKey, generation: int,
                          refused: list[RefusedWrite], body: kopf.Body, *,
                          live: Mapping[str, Any], desired: Mapping[str, Any],
                          now: datetime) -> None:
    """The status patch itself was refused: say so with the smallest status that can be
    written, the phase and conditions (the refused fields may be the other ones)."""
    # This pass's other refusals, if any, are recorded already: one attempt, not two.
    state.refusals.record(key, generation, tuple(refused), same_attempt=len(refused) > 1)
    _announce(state, key, generation, refused[-1:], body)
    conditions = merge_conditions(live.get("conditions") or [], _refusal_conditions(
        desired, refused), generation, now)
    minimal = status_patch(live, {"observedGeneration": generation,
                                  "phase": "Degraded" if int(desired.get("podsReady") or 0)
                                  else "Failed", "conditions": conditions})
    try:
        await state.kube.patch_model_status(key[0], key[1], minimal)
    except KubeError as error:
        kopf.warn(body, reason="WriteRefused",
                  message=f"not even the conditions could be written to status: {error}")


def _refusal_conditions(desired: Mapping[str, Any],
                        refused: Sequence[RefusedWrite]) -> list[Condition]:
    degraded = degraded_condition([("WriteRefused", "the API server refused "
                                    + "; ".join(r.describe() for r in refused))])
    others = [Condition(c["type"], c["status"], c["reason"], c["message"])
              for c in desired.get("conditions") or []
              if c["type"] not in ("Degraded", "Ready")]
    return [*others, degraded, ready_condition([*others, degraded])]


async def reconcile_model(state: OperatorState, key: ModelKey, body: kopf.Body, *,
                          engines: EngineIndexes, rollout: RolloutIndexes,
                          logger: kopf.Logger) -> float | None:
    """Bring one model's engines and pools a step closer to wanted; returns when to look again
    (seconds)."""
    started = time.monotonic()
    live: Mapping[str, Any] = body.get("status") or {}
    generation = int(body.metadata.get("generation") or 0)
    previous = previous_records(live)
    now = datetime.now(UTC)
    try:
        spec: ModelSpec | None = parse_model(body.spec)
        spec_error = None
    except SpecError as error:
        spec, spec_error = None, str(error)
    world = world_of(state, engines.catalogue, engines.jobs, engines.pods)
    all_nodes = [node for store in engines.nodes.values() for node in store]
    wake_after: float | None = None
    serving: RolloutStatus | None = None
    refusal = state.refusals.of(key, generation)
    # Writes refused moments ago would be refused again: wait out the backoff (a spec change
    # forgets it), still telling the status.
    hold = refusal is not None and refusal.holding(time.monotonic())
    refused: list[RefusedWrite] = []
    if spec is None:
        # Keep what was built; nothing is released or rebuilt until the spec is usable again.
        view = InventoryView()
        records = tuple(previous.values())
    else:
        view = view_for(all_nodes, spec.serving.placement)
        plan = plan_model(spec, view, previous,
                          generation_changed=generation != live.get("observedGeneration"),
                          world=world, now=now, settings=state.settings)
        retry_soon = None
        if not hold:
            try:
                retry_soon = await _apply_jobs(state, plan, spec, key, body)
            except WriteRefusedError as error:
                refused.append(error.refused)
        for entry in plan.catalogue:
            await write_catalogue(state, entry)
        await release_engines(state, plan.released, key=key, indexes=engines, body=body)
        _count_outcomes(state, world, (r.fingerprint for r in plan.records))
        records = await with_progress(state, plan.records, world, now)
        state.metrics.record_engines(*key, ((r.fingerprint, r.state) for r in records))
        state.metrics.set_max_latency(*key, spec.serving.max_latency_ms)
        state.metrics.set_builds_unschedulable(*key, sum(
            1 for r in records if r.state == "Building" and r.reason == "Unschedulable"))
        # Pools are rolled out from the engines as they stand after this pass's writes.
        serving = await roll_out(state, ModelPass(
            model=ModelRef(key[0], key[1], str(body.metadata.get("uid"))),
            generation=generation, spec=spec, records=records, view=view), body, rollout,
            hold_writes=hold)
        refused.extend(serving.refused)
        # A running build's progress is shown afresh every build_progress_seconds.
        progress_due = state.settings.build_progress_seconds if any(
            r.progress is not None for r in records) and state.settings.build_progress_seconds \
            else None
        wake_after = min((d for d in (plan.wake_after, retry_soon, serving.wake_after,
                                      progress_due) if d is not None), default=None)
    if hold and refusal is not None:
        refused = list(refusal.writes)
    elif refused:
        refusal = _refused(state, key, generation, refused, body)
    else:
        state.refusals.clear(key)
        refusal = None
    if refusal is not None:
        # Not sooner than the backoff: the refused writes are what the next pass would try.
        wake_after = max(wake_after or 0.0, refusal.retry_at - time.monotonic())
    desired = model_status(records, view, previous=live, generation=generation,
                           spec_error=spec_error, now=now, serving=serving, refused=refused)
    patch = status_patch(live, desired)
    if spec is not None:
        _log_decisions(key, str(body.metadata.get("uid")), plan, patch)
    if patch:
        try:
            with writing(f"status of ClassroomModel {key[0]}/{key[1]}"):
                await state.kube.patch_model_status(key[0], key[1], patch)
        except WriteRefusedError as error:
            others = [r for r in refused if r.what != error.refused.what]
            await _status_refused(state, key, generation, [*others, error.refused], body,
                                  live=live, desired=desired, now=now)
            raise kopf.TemporaryError(error.refused.describe(),
                                      delay=_delay(state, key, generation)) from error
        _post_transitions(body, previous, records)
    state.set_engine_counts(key, desired["enginesReady"], desired["enginesNeeded"])
    state.metrics.reconcile_seconds.observe(time.monotonic() - started)
    logger.debug(f"reconciled: {desired['summary']['engines']} engines ready, "
                 f"{len(patch)} status fields changed")
    return wake_after

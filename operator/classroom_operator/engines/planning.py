"""Which engines a model needs, where each stands, and what to do next (pure functions).

Given the model, the GPU classes its placement can use, and what the cluster shows (catalogue,
build Jobs, their pods), `plan_model` decides every engine's record and the few writes that move
it forward: create a build Job, retry one after its backoff, register a built engine in the
catalogue, or release engines the model no longer needs. The caller applies the writes; running
the plan twice on the same world gives the same writes, so a restart anywhere converges.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from classroom_operator.engines.build_jobs import (
    EngineNeed,
    backend_for,
    build_spec_document,
    build_spec_hash,
)
from classroom_operator.engines.build_progress import BuildProgress
from classroom_operator.engines.build_results import (
    ENGINE_FIGURES,
    JobView,
    PodView,
    build_outcome,
)
from classroom_operator.engines.catalogue import CatalogueEntry
from classroom_operator.engines.fingerprint import engine_fingerprint, fingerprint_document
from classroom_operator.engines.inventory import GpuClass, InventoryView
from classroom_operator.settings import Settings
from classroom_operator.spec.model import ModelSpec

STATES = ("Pending", "Building", "Ready", "Failed")


@dataclass(frozen=True)
class EngineRecord:
    """One entry of status.engines. `reason` travels in `message` ("Reason: text"). `progress`
    is set only while the build's pod runs, fresh each pass, never read back from status."""

    fingerprint: str
    gpu_class: str
    backend: str
    state: str
    reason: str = ""
    message: str = ""
    attempts: int = 0
    built_at: str | None = None
    figures: Mapping[str, Any] = field(default_factory=dict)
    # Reason Unschedulable: since when the scheduler has found no node for the build pod
    # (from the pod itself, so it is not kept in status).
    unschedulable_since: datetime | None = None
    progress: BuildProgress | None = None

    def to_status(self) -> dict[str, Any]:
        item: dict[str, Any] = {
            "fingerprint": self.fingerprint,
            "gpuClass": self.gpu_class,
            "backend": self.backend,
            "state": self.state,
            "attempts": self.attempts,
        }
        if self.reason or self.message:
            item["message"] = f"{self.reason}: {self.message}" if self.reason else self.message
        if self.built_at:
            item["builtAt"] = self.built_at
        for key in ENGINE_FIGURES:
            if key in self.figures:
                item[key] = self.figures[key]
        if self.progress is not None:
            item["progress"] = self.progress.to_status()
        return item


def record_from_status(item: Mapping[str, Any]) -> EngineRecord | None:
    fingerprint, state = item.get("fingerprint"), item.get("state")
    if not isinstance(fingerprint, str) or state not in STATES:
        return None
    message = str(item.get("message") or "")
    reason, _, text = message.partition(": ")
    if not reason.isalnum():
        reason, text = "", message
    return EngineRecord(
        fingerprint=fingerprint,
        gpu_class=str(item.get("gpuClass", "")),
        backend=str(item.get("backend", "")),
        state=str(state),
        reason=reason,
        message=text,
        attempts=int(item.get("attempts") or 0),
        built_at=item.get("builtAt"),
        figures={key: item[key] for key in ENGINE_FIGURES if key in item},
    )


@dataclass(frozen=True)
class CreateJob:
    need: EngineNeed
    attempt: int


@dataclass(frozen=True)
class RetryJob:
    """Replace a failed attempt: delete exactly that Job (by uid), then create the next one."""

    need: EngineNeed
    attempt: int
    failed_uid: str


@dataclass(frozen=True)
class Decision:
    record: EngineRecord
    job: CreateJob | RetryJob | None = None
    catalogue: CatalogueEntry | None = None  # to write: a new engine, or one taken back
    wake_after: float | None = None


@dataclass(frozen=True)
class World:
    """What the indexes show about engines, keyed by fingerprint."""

    catalogue: Mapping[str, CatalogueEntry]
    jobs: Mapping[str, JobView]
    pods: Mapping[str, Sequence[PodView]]


def needed_engines(spec: ModelSpec, view: InventoryView,
                   settings: Settings) -> dict[str, EngineNeed]:
    needs = {}
    for gpu in view.classes.values():
        backend = backend_for(gpu, settings.gpu_backend)
        fingerprint = engine_fingerprint(spec.model, spec.engine, gpu, backend,
                                         settings.tensorrt_version)
        needs[fingerprint] = EngineNeed(fingerprint=fingerprint, gpu=gpu, backend=backend)
    return needs


def engine_spec_key(spec: ModelSpec) -> str:
    """Equal for models whose engines are equal on every GPU class (same fingerprint inputs)."""
    document = fingerprint_document(spec.model, spec.engine, GpuClass(), "", "")
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()[:16]


def new_engines(spec: ModelSpec, view: InventoryView, settings: Settings, world: World,
                recorded: Container[str]) -> list[EngineNeed]:
    """Needed engines no one has seen yet: no Job, no catalogue entry, in no model's status.

    Starting their builds straight from a node change needs no model's history: failures,
    attempts and retries all live in some status, and those engines are left to the models.
    """
    return [need for fingerprint, need in needed_engines(spec, view, settings).items()
            if fingerprint not in world.jobs and fingerprint not in world.catalogue
            and fingerprint not in recorded]


def _entry_from(record: EngineRecord) -> CatalogueEntry:
    return CatalogueEntry(fingerprint=record.fingerprint, gpu_class=record.gpu_class,
                          backend=record.backend, built_at=record.built_at, figures=record.figures)


def decide_engine(need: EngineNeed, *, previous: EngineRecord | None, generation_changed: bool,
                  world: World, spec_hash: str, now: datetime, settings: Settings) -> Decision:
    """Where one needed engine stands and the one write (if any) that moves it on."""
    fingerprint = need.fingerprint
    base = EngineRecord(fingerprint=fingerprint, gpu_class=need.gpu.name, backend=need.backend,
                        state="Pending", attempts=previous.attempts if previous else 0)
    entry = world.catalogue.get(fingerprint)
    if entry is not None:
        ready = replace(base, state="Ready", built_at=entry.built_at, figures=entry.figures,
                        attempts=max(base.attempts, 1))
        return Decision(ready, catalogue=replace(entry, released_at=None)
                        if entry.released_at is not None else None)
    job = world.jobs.get(fingerprint)
    if job is None or job.deleting:
        if previous is not None and previous.state == "Ready":
            return Decision(previous, catalogue=_entry_from(previous))
        if previous is not None and previous.state == "Failed" and not generation_changed:
            return Decision(previous)
        if job is not None:
            return Decision(replace(base, state="Building", reason="Waiting",
                                    message="the previous attempt's Job is being removed"),
                            wake_after=2.0)
        # A Building record without a Job: a retry was cut short between delete and create.
        attempt = previous.attempts + 1 if previous and previous.state == "Building" else 1
        return Decision(replace(base, state="Building", attempts=attempt, reason="",
                                message="build Job created"), job=CreateJob(need, attempt))
    outcome = build_outcome(job, world.pods.get(fingerprint, ()))
    attempts = job.attempt
    if outcome.state == "Building":
        return Decision(replace(base, state="Building", attempts=attempts,
                                reason=outcome.reason
                                if outcome.reason in ("Waiting", "Unschedulable") else "",
                                message=outcome.message,
                                unschedulable_since=outcome.unschedulable_since))
    if outcome.state == "Ready":
        built_at = (outcome.finished_at or now).strftime("%Y-%m-%dT%H:%M:%SZ")
        figures = {key: value for key, value in outcome.figures.items() if key != "builtAt"}
        ready = replace(base, state="Ready", attempts=attempts, built_at=built_at,
                        figures=figures)
        return Decision(ready, catalogue=_entry_from(ready))
    failure = replace(base, state="Failed", attempts=attempts, reason=outcome.reason,
                      message=outcome.message, figures=outcome.figures)
    other_spec = job.spec_hash != spec_hash
    final = outcome.permanent or attempts >= settings.build_attempts
    if final:
        # A failure of some other build spec (the spec was fixed since, or another model with
        # the same engine asked differently) is retried once per generation of this model.
        already_failed = previous is not None and previous.state == "Failed"
        if other_spec and (generation_changed or not already_failed):
            return Decision(replace(base, state="Building", attempts=1, reason="",
                                    message="retrying with the current spec"),
                            job=RetryJob(need, 1, job.uid))
        if not outcome.permanent:
            failure = replace(failure, message=f"{outcome.message} (after {attempts} attempts)")
        return Decision(failure)
    if other_spec and generation_changed:
        return Decision(replace(base, state="Building", attempts=1, reason="",
                                message="retrying with the current spec"),
                        job=RetryJob(need, 1, job.uid))
    delay = settings.build_retry_seconds * 2 ** (attempts - 1)
    waited = (now - outcome.finished_at).total_seconds() if outcome.finished_at else delay
    if waited >= delay:
        return Decision(replace(base, state="Building", attempts=attempts + 1,
                                reason=outcome.reason,
                                message=f"attempt {attempts} failed ({outcome.message}); "
                                        f"attempt {attempts + 1} started"),
                        job=RetryJob(need, attempts + 1, job.uid))
    # An absolute time, so the message (and the status) stays the same while waiting.
    retry_at = (outcome.finished_at or now) + timedelta(seconds=delay)
    return Decision(
        replace(base, state="Building", attempts=attempts, reason=outcome.reason,
                message=f"attempt {attempts} of {settings.build_attempts} failed "
                        f"({outcome.message}); next attempt at "
                        f"{retry_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"),
        wake_after=delay - waited,
    )


@dataclass(frozen=True)
class ModelPlan:
    records: tuple[EngineRecord, ...]
    jobs: tuple[CreateJob | RetryJob, ...]
    catalogue: tuple[CatalogueEntry, ...]
    released: tuple[str, ...]
    wake_after: float | None
    spec_hashes: Mapping[str, str]


def plan_model(spec: ModelSpec, view: InventoryView, previous: Mapping[str, EngineRecord], *,
               generation_changed: bool, world: World, now: datetime,
               settings: Settings) -> ModelPlan:
    """Every engine record of one model, and the writes that move them on."""
    needs = needed_engines(spec, view, settings)
    records: list[EngineRecord] = []
    jobs: list[CreateJob | RetryJob] = []
    catalogue: list[CatalogueEntry] = []
    wakes: list[float] = []
    hashes: dict[str, str] = {}
    for fingerprint, need in needs.items():
        hashes[fingerprint] = build_spec_hash(build_spec_document(spec, need.gpu))
        decision = decide_engine(need, previous=previous.get(fingerprint),
                                 generation_changed=generation_changed, world=world,
                                 spec_hash=hashes[fingerprint], now=now, settings=settings)
        records.append(decision.record)
        if decision.job is not None:
            jobs.append(decision.job)
        if decision.catalogue is not None:
            catalogue.append(decision.catalogue)
        if decision.wake_after is not None:
            wakes.append(decision.wake_after)
    released = []
    for fingerprint, record in previous.items():
        if fingerprint in needs:
            continue
        if view.settling:
            # A node mid-upgrade may come back to this class: keep its engine until it settles.
            records.append(record)
        else:
            released.append(fingerprint)
    records.sort(key=lambda r: (r.gpu_class, r.fingerprint))
    return ModelPlan(records=tuple(records), jobs=tuple(jobs), catalogue=tuple(catalogue),
                     released=tuple(sorted(released)), wake_after=min(wakes, default=None),
                     spec_hashes=hashes)


def previous_records(status: Mapping[str, Any]) -> dict[str, EngineRecord]:
    """The engine records a model's status holds, by fingerprint."""
    records = {}
    for item in status.get("engines") or []:
        record = record_from_status(item) if isinstance(item, Mapping) else None
        if record is not None:
            records[record.fingerprint] = record
    return records

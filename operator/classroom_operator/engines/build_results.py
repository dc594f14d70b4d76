"""What a build Job says about its engine: its state, and the builder's one-line JSON summary.

The builder prints the summary to its termination message (docs/contracts.md, "Builder summary"),
so the operator learns the result from the pod's status, with no access to the engine store.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from classroom_operator.engines.build_jobs import CONTAINER, PERMANENT_EXIT_CODE
from classroom_operator.engines.build_progress import is_step_line
from classroom_operator.names import (
    ATTEMPT_ANNOTATION,
    BUILD_SPEC_HASH_ANNOTATION,
    FINGERPRINT_LABEL,
    GPU_CLASS_LABEL,
)

# Job failure reasons (conditions[type=Failed].reason) that mean retrying cannot help.
PERMANENT_JOB_REASONS = ("PodFailurePolicy",)
SUMMARY_LIMIT = 4096


def parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


@dataclass(frozen=True)
class JobView:
    """A build Job as the operator needs it; kept in the jobs index."""

    name: str
    uid: str
    fingerprint: str
    attempt: int
    spec_hash: str
    gpu_class: str = ""
    succeeded: bool = False
    failed: bool = False
    reason: str = ""
    message: str = ""
    finished_at: datetime | None = None
    deleting: bool = False


@dataclass(frozen=True)
class PodView:
    """A build pod's state: where it is stuck, since when its build container runs, or how it
    ended."""

    name: str
    job: str
    phase: str
    exit_code: int | None = None
    termination_message: str = ""
    finished_at: datetime | None = None
    waiting: str = ""
    started_at: datetime | None = None  # set while the build container runs
    # The scheduler's message while it finds no node for the pod (PodScheduled=False,
    # Unschedulable), and since when: a build that waits for a GPU the pools hold.
    unschedulable: str = ""
    unschedulable_since: datetime | None = None

    @property
    def running(self) -> bool:
        return self.phase == "Running" and self.started_at is not None and self.exit_code is None


@dataclass(frozen=True)
class Summary:
    state: str
    reason: str
    permanent: bool
    message: str
    figures: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """Where one build stands: Building, Ready or Failed (permanent or after the Job's retries)."""

    state: str
    reason: str
    message: str
    permanent: bool = False
    figures: Mapping[str, Any] = field(default_factory=dict)
    finished_at: datetime | None = None
    unschedulable_since: datetime | None = None  # reason Unschedulable: since when


def job_view(meta: Mapping[str, Any], status: Mapping[str, Any]) -> JobView:
    labels = meta.get("labels") or {}
    annotations = meta.get("annotations") or {}
    attempt = str(annotations.get(ATTEMPT_ANNOTATION, "1"))
    view = JobView(
        name=str(meta.get("name", "")),
        uid=str(meta.get("uid", "")),
        fingerprint=str(labels.get(FINGERPRINT_LABEL, "")),
        attempt=int(attempt) if attempt.isdigit() else 1,
        spec_hash=str(annotations.get(BUILD_SPEC_HASH_ANNOTATION, "")),
        gpu_class=str(labels.get(GPU_CLASS_LABEL, "")),
        deleting=bool(meta.get("deletionTimestamp")),
    )
    for condition in status.get("conditions") or []:
        if condition.get("status") != "True":
            continue
        # The Job controller sets SuccessCriteriaMet and FailureTarget as soon as it decides,
        # Complete and Failed only once every pod has gone, which a stuck node can delay for good.
        if condition.get("type") in ("Complete", "SuccessCriteriaMet"):
            return _with(view, succeeded=True, finished_at=parse_time(
                status.get("completionTime") or condition.get("lastTransitionTime")))
        if condition.get("type") in ("Failed", "FailureTarget"):
            return _with(view, failed=True, reason=str(condition.get("reason") or "Failed"),
                         message=str(condition.get("message") or ""),
                         finished_at=parse_time(condition.get("lastTransitionTime")))
    return view


def _with(view: JobView, **changes: Any) -> JobView:
    return JobView(**{**view.__dict__, **changes})


def pod_view(meta: Mapping[str, Any], status: Mapping[str, Any]) -> PodView:
    labels = meta.get("labels") or {}
    job = labels.get("batch.kubernetes.io/job-name") or labels.get("job-name") or ""
    waiting = unschedulable = ""
    since = None
    started_at = None
    for condition in status.get("conditions") or []:
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            waiting = f"{condition.get('reason', 'Unschedulable')}: {condition.get('message', '')}"
            if condition.get("reason", "Unschedulable") == "Unschedulable":
                unschedulable = str(condition.get("message") or "no node fits the pod")
                since = parse_time(condition.get("lastTransitionTime"))
    for container in status.get("containerStatuses") or []:
        if container.get("name") != CONTAINER:
            continue
        state = container.get("state") or {}
        if "waiting" in state:
            reason = state["waiting"].get("reason", "")
            waiting = f"{reason}: {state['waiting'].get('message', '')}".strip(": ")
        if "running" in state:
            started_at = parse_time((state["running"] or {}).get("startedAt"))
        terminated = state.get("terminated")
        if terminated:
            return PodView(
                name=str(meta.get("name", "")), job=str(job), phase=str(status.get("phase", "")),
                exit_code=int(terminated.get("exitCode", 0)),
                termination_message=str(terminated.get("message") or "")[:SUMMARY_LIMIT],
                finished_at=parse_time(terminated.get("finishedAt")),
            )
    return PodView(name=str(meta.get("name", "")), job=str(job),
                   phase=str(status.get("phase", "")), waiting=waiting,
                   unschedulable=unschedulable, unschedulable_since=since, started_at=started_at)


# What the operator keeps of a builder's summary (catalogue, status.engines[]): `warnings` are
# short "<Code>: <text>" strings the builder raises without refusing the engine (a head that
# answers the same for every crop).
ENGINE_FIGURES = ("buildSeconds", "sizeBytes", "throughput", "validation", "warnings")


def parse_summary(message: str) -> Summary | None:
    """The builder's JSON summary; None when the message holds something else (e.g. log lines)."""
    for line in reversed(message.strip().splitlines()):
        try:
            document = json.loads(line)
        except ValueError:
            continue
        if isinstance(document, dict) and isinstance(document.get("state"), str):
            figures = {key: document[key] for key in ("backend", "builtAt", *ENGINE_FIGURES)
                       if key in document}
            return Summary(
                state=document["state"],
                reason=str(document.get("reason") or document["state"]),
                permanent=bool(document.get("permanent", False)),
                message=str(document.get("message") or ""),
                figures=figures,
            )
    return None


def _last_finished(pods: Iterable[PodView]) -> PodView | None:
    finished = [pod for pod in pods if pod.exit_code is not None]
    return max(finished, key=lambda p: (p.finished_at is not None, p.finished_at or 0, p.name),
               default=None)


def _tail(message: str) -> str:
    """The last line of a crashed builder's log that says something: not its step lines."""
    lines = [line for line in message.strip().splitlines()
             if line.strip() and not is_step_line(line)]
    return lines[-1][:300] if lines else ""


def build_outcome(job: JobView, pods: Iterable[PodView]) -> Outcome:
    """Classify a build from its Job and pods (pure)."""
    pods = [pod for pod in pods if pod.job == job.name]
    last = _last_finished(pods)
    summary = parse_summary(last.termination_message) if last is not None else None
    if job.succeeded:
        if summary is not None and summary.state == "Ready":
            return Outcome("Ready", summary.reason, summary.message, figures=summary.figures,
                           finished_at=job.finished_at)
        return Outcome("Ready", "Built", "the build succeeded without a summary",
                       finished_at=job.finished_at)
    if job.failed:
        permanent = job.reason in PERMANENT_JOB_REASONS or (
            last is not None and last.exit_code == PERMANENT_EXIT_CODE)
        if summary is not None and summary.state == "Failed":
            return Outcome("Failed", summary.reason, summary.message,
                           permanent=permanent or summary.permanent,
                           figures=summary.figures, finished_at=job.finished_at)
        if job.reason == "DeadlineExceeded":
            return Outcome("Failed", "DeadlineExceeded", job.message or
                           "the build ran past its deadline", finished_at=job.finished_at)
        if last is not None:
            detail = _tail(last.termination_message)
            return Outcome("Failed", "BuilderCrashed",
                           f"the builder exited with code {last.exit_code}"
                           + (f": {detail}" if detail else ""),
                           permanent=permanent, finished_at=job.finished_at)
        return Outcome("Failed", job.reason or "Failed", job.message or "the build Job failed",
                       permanent=permanent, finished_at=job.finished_at)
    running = [pod for pod in pods if pod.exit_code is None]
    stuck = next((pod for pod in running if pod.unschedulable), None)
    if stuck is not None:
        return Outcome("Building", "Unschedulable",
                       f"the build pod cannot be scheduled: {stuck.unschedulable}",
                       unschedulable_since=stuck.unschedulable_since)
    waiting = next((pod.waiting for pod in running if pod.waiting), "")
    if waiting:
        return Outcome("Building", "Waiting", waiting)
    if running:
        return Outcome("Building", "Building", f"building in pod {running[0].name}")
    if last is not None and last.exit_code != 0:
        detail = _tail(last.termination_message)
        return Outcome("Building", "Building",
                       f"pod {last.name} exited with code {last.exit_code}"
                       + (f" ({detail})" if detail else "") + "; the Job starts another")
    return Outcome("Building", "Building", "the build Job is starting")

"""Where one needed engine stands and the single write that moves it on: build, wait, retry
with backoff, give up after the limit, never retry a permanent failure until the spec changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from classroom_operator.engines.build_jobs import EngineNeed
from classroom_operator.engines.build_results import JobView, PodView
from classroom_operator.engines.catalogue import CatalogueEntry
from classroom_operator.engines.planning import (
    CreateJob,
    Decision,
    EngineRecord,
    RetryJob,
    World,
    decide_engine,
)
from classroom_operator.settings import Settings

Jobs = Callable[..., JobView]
Worlds = Callable[..., World]
Decide = Callable[..., Decision]


@pytest.fixture
def decide(need: EngineNeed, spec_hash: str, now: datetime,
           settings: Settings) -> Decide:
    def run(world: World, previous: EngineRecord | None = None,
            generation_changed: bool = False, at: datetime | None = None) -> Decision:
        return decide_engine(need, previous=previous, generation_changed=generation_changed,
                             world=world, spec_hash=spec_hash, now=at or now, settings=settings)
    return run


def _record(need: EngineNeed, state: str, attempts: int = 1) -> EngineRecord:
    return EngineRecord(fingerprint=need.fingerprint, gpu_class=need.gpu.name,
                        backend=need.backend, state=state, attempts=attempts)


def test_nothing_exists_so_build(decide: Decide, world: Worlds, need: EngineNeed) -> None:
    decision = decide(world())
    assert decision.job == CreateJob(need, 1)
    assert decision.record.state == "Building"
    assert decision.record.attempts == 1


def test_deciding_twice_on_the_same_world_is_the_same(decide: Decide, world: Worlds) -> None:
    assert decide(world()) == decide(world())


def test_running_job_means_building_and_no_write(decide: Decide, world: Worlds, job: Jobs) -> None:
    decision = decide(world([job()]))
    assert decision.job is None and decision.catalogue is None
    assert decision.record.state == "Building"


def test_catalogue_engine_is_ready_without_a_job(decide: Decide, world: Worlds,
                                                 need: EngineNeed) -> None:
    entry = CatalogueEntry(need.fingerprint, need.gpu.name, need.backend, "2026-11-25T10:00:00Z",
                           {"sizeBytes": 10})
    decision = decide(world(catalogue={need.fingerprint: entry}))
    assert decision.record.state == "Ready"
    assert decision.record.figures == {"sizeBytes": 10}
    assert decision.job is None and decision.catalogue is None


def test_released_engine_is_taken_back(decide: Decide, world: Worlds, need: EngineNeed,
                                       now: datetime) -> None:
    entry = CatalogueEntry(need.fingerprint, need.gpu.name, need.backend, None, {},
                           released_at=now)
    decision = decide(world(catalogue={need.fingerprint: entry}))
    assert decision.catalogue is not None and decision.catalogue.released_at is None


def test_succeeded_job_registers_the_engine(decide: Decide, world: Worlds, job: Jobs,
                                            now: datetime) -> None:
    summary = ('{"state": "Ready", "reason": "Built", "buildSeconds": 3.5, '
               '"throughput": {"batch": 64, "cropsPerSecond": 900.0}}')
    done = job(succeeded=True, finished=now)
    pod = PodView(name="p", job=done.name, phase="Succeeded", exit_code=0,
                  termination_message=summary, finished_at=now)
    decision = decide(world([done], [pod]))
    assert decision.record.state == "Ready"
    assert decision.record.figures["buildSeconds"] == 3.5
    assert decision.record.built_at == now.strftime("%Y-%m-%dT%H:%M:%SZ")
    assert decision.catalogue is not None
    assert decision.catalogue.figures["throughput"]["cropsPerSecond"] == 900.0


def test_transient_failure_waits_then_retries_with_backoff(decide: Decide, world: Worlds, job: Jobs,
                                                           need: EngineNeed,
                                                           now: datetime) -> None:
    failed = job(attempt=2, failed=True, reason="BackoffLimitExceeded", finished=now)
    waiting = decide(world([failed]), at=now + timedelta(seconds=10))
    # Attempt 2 failed: the next waits 30s * 2^(2-1) = 60s after the failure.
    assert waiting.job is None
    assert waiting.wake_after == pytest.approx(50)
    assert waiting.record.state == "Building"
    assert waiting.record.reason == "BackoffLimitExceeded"
    assert "attempt 2 of 3 failed" in waiting.record.message
    # The status does not tick while waiting: the message names the time of the next attempt.
    later = decide(world([failed]), at=now + timedelta(seconds=40))
    assert later.record == waiting.record
    assert "next attempt at 2026-11-25T12:01:00Z" in waiting.record.message
    retry = decide(world([failed]), at=now + timedelta(seconds=60))
    assert retry.job == RetryJob(need, 3, failed.uid)


def test_failed_after_the_attempt_limit(decide: Decide, world: Worlds, job: Jobs,
                                        now: datetime) -> None:
    last = job(attempt=3, failed=True, reason="DeadlineExceeded", finished=now)
    decision = decide(world([last]), at=now + timedelta(hours=1))
    assert decision.job is None
    assert decision.record.state == "Failed"
    assert decision.record.reason == "DeadlineExceeded"
    assert "after 3 attempts" in decision.record.message


def _permanent(job: Jobs, now: datetime, **changes: object) -> tuple[JobView, PodView]:
    failed = job(failed=True, reason="PodFailurePolicy", finished=now, **changes)
    pod = PodView(name="p", job=failed.name, phase="Failed", exit_code=2, finished_at=now,
                  termination_message='{"state": "Failed", "reason": "ChecksumMismatch", '
                                      '"permanent": true, "message": "sha256 differs"}')
    return failed, pod


def test_permanent_failure_is_not_retried(decide: Decide, world: Worlds, job: Jobs,
                                          need: EngineNeed, now: datetime) -> None:
    failed, pod = _permanent(job, now)
    for previous in (None, _record(need, "Failed")):
        decision = decide(world([failed], [pod]), previous=previous,
                          generation_changed=True, at=now + timedelta(days=1))
        assert decision.job is None
        assert (decision.record.state, decision.record.reason) == ("Failed", "ChecksumMismatch")


def test_fixed_spec_retries_a_permanent_failure(decide: Decide, world: Worlds, job: Jobs,
                                                need: EngineNeed, now: datetime) -> None:
    failed, pod = _permanent(job, now, other_spec=True)
    decision = decide(world([failed], [pod]), previous=_record(need, "Failed"),
                      generation_changed=True)
    assert decision.job == RetryJob(need, 1, failed.uid)


def test_two_models_disagreeing_do_not_retry_forever(decide: Decide, world: Worlds, job: Jobs,
                                                     need: EngineNeed, now: datetime) -> None:
    # Another model with the same engine asked with other validation settings and failed; this
    # model already recorded the failure and its spec did not change: leave it.
    failed, pod = _permanent(job, now, other_spec=True)
    decision = decide(world([failed], [pod]), previous=_record(need, "Failed"))
    assert decision.job is None
    assert decision.record.state == "Failed"


def test_failed_record_without_job_stays_until_the_spec_changes(decide: Decide, world: Worlds,
                                                                need: EngineNeed) -> None:
    failed = _record(need, "Failed", attempts=3)
    assert decide(world(), previous=failed).job is None
    assert decide(world(), previous=failed, generation_changed=True).job == CreateJob(need, 1)


def test_retry_cut_short_between_delete_and_create_continues(decide: Decide, world: Worlds,
                                                             need: EngineNeed) -> None:
    decision = decide(world(), previous=_record(need, "Building", attempts=2))
    assert decision.job == CreateJob(need, 3)


def test_ready_record_without_catalogue_entry_is_registered_again(decide: Decide, world: Worlds,
                                                                  need: EngineNeed) -> None:
    decision = decide(world(), previous=_record(need, "Ready"))
    assert decision.job is None
    assert decision.catalogue is not None and decision.catalogue.fingerprint == need.fingerprint


def test_job_being_deleted_is_waited_for(decide: Decide, world: Worlds, job: Jobs) -> None:
    decision = decide(world([job(deleting=True)]))
    assert decision.job is None
    assert decision.wake_after is not None


def test_a_build_pod_without_a_node_says_why_and_since_when(decide: Decide, world: Worlds,
                                                            job: Jobs, need: EngineNeed,
                                                            now: datetime) -> None:
    since = now - timedelta(seconds=90)
    pod = PodView(name=f"engine-build-{need.fingerprint}-x", job=f"engine-build-{need.fingerprint}",
                  phase="Pending", waiting="Unschedulable: 0/2 nodes are available",
                  unschedulable="0/2 nodes are available: 2 Insufficient nvidia.com/gpu.",
                  unschedulable_since=since)
    decision = decide(world([job()], [pod]))
    assert decision.job is None
    record = decision.record
    assert (record.state, record.reason, record.unschedulable_since) == (
        "Building", "Unschedulable", since)
    assert record.to_status()["message"] == (
        "Unschedulable: the build pod cannot be scheduled: 0/2 nodes are available: "
        "2 Insufficient nvidia.com/gpu.")

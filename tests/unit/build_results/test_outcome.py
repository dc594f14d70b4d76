"""A build's outcome from its Job and pods: the builder's summary when there is one, the Job's
and the exit code's word otherwise; permanent failures told apart from transient ones."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from classroom_operator.engines.build_results import (
    build_outcome,
    job_view,
    parse_summary,
    pod_view,
)

Objects = Callable[..., tuple[dict[str, Any], dict[str, Any]]]


def test_job_view_reads_identity_attempt_and_outcome(job_object: Objects) -> None:
    view = job_view(*job_object("Failed", "DeadlineExceeded", attempt="3"))
    assert (view.fingerprint, view.attempt, view.spec_hash, view.gpu_class) == (
        "0123456789abcdef", 3, "h1", "cpu")
    assert view.failed and not view.succeeded and view.reason == "DeadlineExceeded"
    assert view.finished_at == datetime(2026, 11, 25, 11, 0, tzinfo=UTC)
    assert not job_view(*job_object()).failed


def test_summary_from_the_termination_message(summary_ready: str) -> None:
    summary = parse_summary(summary_ready)
    assert summary is not None
    assert (summary.state, summary.reason, summary.permanent) == ("Ready", "Built", False)
    assert summary.figures["throughput"] == {"batch": 32, "cropsPerSecond": 2950.5}
    assert "fingerprint" not in summary.figures


def test_summary_found_after_log_lines_and_absent_in_plain_logs(summary_ready: str) -> None:
    assert parse_summary(f"fetching model\nbuilding\n{summary_ready}\n") is not None
    assert parse_summary("Traceback (most recent call last):\n  boom") is None
    assert parse_summary('{"not": "a summary"}') is None


def test_ready_build_carries_its_figures(job_object: Objects, pod_object: Objects,
                                         summary_ready: str) -> None:
    outcome = build_outcome(job_view(*job_object("Complete")),
                            [pod_view(*pod_object(exit_code=0, message=summary_ready))])
    assert outcome.state == "Ready"
    assert outcome.figures["sizeBytes"] == 4096
    assert outcome.figures["validation"]["passed"] is True


@pytest.mark.parametrize(("reason", "permanent"), [
    ("ChecksumMismatch", True), ("InvalidModel", True), ("FetchFailed", False)])
def test_failed_build_quotes_the_builder(job_object: Objects, pod_object: Objects, reason: str,
                                         permanent: bool) -> None:
    message = (f'{{"fingerprint": "0123456789abcdef", "state": "Failed", "reason": "{reason}", '
               f'"permanent": {str(permanent).lower()}, "message": "{reason} details"}}')
    exit_code = 2 if permanent else 1
    job_reason = "PodFailurePolicy" if permanent else "BackoffLimitExceeded"
    outcome = build_outcome(job_view(*job_object("Failed", job_reason)),
                            [pod_view(*pod_object(exit_code=exit_code, message=message))])
    assert (outcome.state, outcome.reason, outcome.permanent) == ("Failed", reason, permanent)
    assert outcome.message == f"{reason} details"


def test_exit_code_two_is_permanent_even_without_a_summary(job_object: Objects,
                                                           pod_object: Objects) -> None:
    outcome = build_outcome(job_view(*job_object("Failed", "PodFailurePolicy")),
                            [pod_view(*pod_object(exit_code=2, message="usage: bad flag"))])
    assert outcome.permanent
    assert outcome.reason == "BuilderCrashed"
    assert "usage: bad flag" in outcome.message


def test_crash_is_transient_and_quotes_the_log_tail(job_object: Objects,
                                                    pod_object: Objects) -> None:
    logs = "loading\nSegmentation fault (core dumped)"
    outcome = build_outcome(job_view(*job_object("Failed", "BackoffLimitExceeded")),
                            [pod_view(*pod_object(exit_code=139, message=logs))])
    assert (outcome.reason, outcome.permanent) == ("BuilderCrashed", False)
    assert outcome.message.endswith("Segmentation fault (core dumped)")
    assert "139" in outcome.message


def test_a_crash_quotes_the_builders_words_not_its_step_lines(job_object: Objects,
                                                             pod_object: Objects) -> None:
    # FallbackToLogsOnError puts the log's tail in the message; the builder's step lines are
    # for progress, the line before them says what happened.
    logs = ("2026-11-25T10:59:58Z build +3.0s [TRT] out of memory\n"
            '{"step":"engine","at":"2026-11-25T10:59:00Z","fingerprint":"0123456789abcdef"}\n')
    outcome = build_outcome(job_view(*job_object("Failed", "BackoffLimitExceeded")),
                            [pod_view(*pod_object(exit_code=137, message=logs))])
    assert outcome.message.endswith("[TRT] out of memory")


def test_deadline_exceeded_is_transient(job_object: Objects, pod_object: Objects) -> None:
    outcome = build_outcome(job_view(*job_object("Failed", "DeadlineExceeded")),
                            [pod_view(*pod_object())])
    assert (outcome.state, outcome.reason, outcome.permanent) == (
        "Failed", "DeadlineExceeded", False)


def test_latest_pod_decides(job_object: Objects, pod_object: Objects,
                            summary_ready: str) -> None:
    crashed = pod_view(*pod_object("p1", exit_code=1, message="boom",
                                   finished="2026-11-25T10:00:00Z"))
    built = pod_view(*pod_object("p2", exit_code=0, message=summary_ready,
                                 finished="2026-11-25T10:30:00Z"))
    outcome = build_outcome(job_view(*job_object("Complete")), [built, crashed])
    assert outcome.state == "Ready" and outcome.reason == "Built"


def test_unschedulable_pod_is_reported_while_building(job_object: Objects,
                                                      pod_object: Objects) -> None:
    message = "0/3 nodes are available: 3 Insufficient nvidia.com/gpu."
    pod = pod_view(*pod_object(unschedulable=message))
    assert pod.unschedulable == message
    assert pod.unschedulable_since == datetime(2026, 11, 25, 10, 58, tzinfo=UTC)
    outcome = build_outcome(job_view(*job_object()), [pod])
    assert outcome.state == "Building"
    assert outcome.reason == "Unschedulable"
    assert outcome.message == f"the build pod cannot be scheduled: {message}"
    assert outcome.unschedulable_since == pod.unschedulable_since


def test_a_pod_waiting_for_its_image_is_not_unschedulable(job_object: Objects,
                                                          pod_object: Objects) -> None:
    meta, status = pod_object()
    status["conditions"] = [{"type": "PodScheduled", "status": "True"}]
    status["containerStatuses"] = [{"name": "build", "state": {"waiting": {
        "reason": "ImagePullBackOff", "message": "back-off pulling image"}}}]
    pod = pod_view(meta, status)
    assert (pod.unschedulable, pod.unschedulable_since) == ("", None)
    outcome = build_outcome(job_view(*job_object()), [pod])
    assert (outcome.reason, outcome.message) == ("Waiting",
                                                 "ImagePullBackOff: back-off pulling image")


def test_pods_of_other_jobs_are_ignored(job_object: Objects, pod_object: Objects) -> None:
    meta, status = pod_object(exit_code=2, message="wrong job")
    meta["labels"]["batch.kubernetes.io/job-name"] = "engine-build-ffffffffffffffff"
    outcome = build_outcome(job_view(*job_object("Failed", "BackoffLimitExceeded")),
                            [pod_view(meta, status)])
    assert not outcome.permanent
    assert outcome.reason == "BackoffLimitExceeded"


def test_failed_pod_while_the_job_retries_is_reported(job_object: Objects,
                                                      pod_object: Objects) -> None:
    pod = pod_view(*pod_object(exit_code=1, message="Traceback\nImportError: no module"))
    outcome = build_outcome(job_view(*job_object()), [pod])
    assert outcome.state == "Building"
    assert "exited with code 1 (ImportError: no module)" in outcome.message


@pytest.mark.parametrize(("decided", "final"), [("FailureTarget", "Failed"),
                                                ("SuccessCriteriaMet", "Complete")])
def test_the_job_controllers_decision_counts_before_its_pods_are_gone(
        job_object: Objects, decided: str, final: str) -> None:
    early = job_view(*job_object(decided, "DeadlineExceeded"))
    late = job_view(*job_object(final, "DeadlineExceeded"))
    assert (early.failed, early.succeeded) == (late.failed, late.succeeded)
    assert early.reason == late.reason

"""One log read per running build per interval, whatever the number of models and passes that
ask; the step last seen stands in between, and a tail without one keeps it."""

from __future__ import annotations

from datetime import UTC, datetime

from classroom_operator.engines.build_progress import StepLine, StepReads

FETCH = StepLine("fetch", datetime(2026, 11, 25, 12, 0, tzinfo=UTC))
ENGINE = StepLine("engine", datetime(2026, 11, 25, 12, 1, tzinfo=UTC))


def test_one_read_per_pod_per_interval() -> None:
    reads = StepReads(interval=15)
    # A thousand models sharing one build, in passes side by side: one read.
    assert [reads.claim("pod-a", 100.0) for _ in range(1000)].count(True) == 1
    assert reads.claim("pod-b", 100.0)  # another build has its own
    assert not reads.claim("pod-a", 114.9)
    assert reads.claim("pod-a", 115.0)


def test_the_step_last_seen_stands_until_a_newer_one() -> None:
    reads = StepReads(interval=15)
    assert reads.step("pod-a") is None
    reads.claim("pod-a", 0.0)
    reads.seen("pod-a", FETCH)
    reads.claim("pod-a", 15.0)
    reads.seen("pod-a", None)  # a tail of other output
    assert reads.step("pod-a") == FETCH
    reads.claim("pod-a", 30.0)
    reads.seen("pod-a", ENGINE)
    assert reads.step("pod-a") == ENGINE


def test_pods_no_longer_running_are_forgotten() -> None:
    reads = StepReads(interval=15)
    for pod in ("pod-a", "pod-b"):
        reads.claim(pod, 0.0)
        reads.seen(pod, FETCH)
    reads.keep_only(["pod-b"])
    assert reads.step("pod-a") is None and reads.step("pod-b") == FETCH
    assert reads.claim("pod-a", 1.0)  # a pod of that name again is a new build: read it
    reads.seen("pod-a", ENGINE)
    assert reads.step("pod-a") == ENGINE


def test_an_interval_of_zero_reads_nothing() -> None:
    reads = StepReads(interval=0)
    assert not reads.claim("pod-a", 0.0)
    reads.seen("pod-a", FETCH)
    assert reads.step("pod-a") is None


def test_an_unreadable_log_is_told_once_per_build() -> None:
    reads = StepReads(interval=15)
    reads.claim("pod-a", 0.0)
    assert reads.unreadable("pod-a")
    assert not reads.unreadable("pod-a")
    assert reads.unreadable("pod-b")
    reads.keep_only(["pod-b"])
    assert reads.unreadable("pod-a")  # a new pod of that name

"""The operator's in-process coordination: one write per engine across many engine loops, and
wake-ups that reach exactly the models named."""

from __future__ import annotations

from classroom_operator.controller import CreatedJobs, RecentWrites, Wakeups
from classroom_operator.engines.build_results import JobView
from classroom_operator.metrics import Metrics


def test_a_write_is_claimed_once_while_fresh() -> None:
    recent = RecentWrites(ttl=3600)
    assert recent.claim("catalogue/abc", "v1")
    assert not recent.claim("catalogue/abc", "v1")
    assert recent.claim("catalogue/abc", "v2")  # a different value is a different write
    assert recent.claim("job/abc/1")


def test_a_dropped_claim_can_be_written_again() -> None:
    recent = RecentWrites(ttl=3600)
    assert recent.claim("job/abc/1")
    recent.drop("job/abc/1")
    assert recent.claim("job/abc/1")


def test_an_expired_claim_is_written_again() -> None:
    recent = RecentWrites(ttl=0)
    assert recent.claim("job/abc/1")
    assert recent.claim("job/abc/1")


async def test_wakeups_reach_only_registered_models() -> None:
    metrics = Metrics()
    wakeups = Wakeups(metrics)
    first = wakeups.register(("school", "grade-5"))
    second = wakeups.register(("school", "grade-6"))
    wakeups.wake([("school", "grade-5"), ("school", "unknown")])
    assert first.is_set() and not second.is_set()
    assert metrics.registry.get_sample_value("classroom_operator_queue_depth") == 1
    wakeups.done(("school", "grade-5"))
    assert not first.is_set()
    assert metrics.registry.get_sample_value("classroom_operator_queue_depth") == 0


def _job(fingerprint: str, uid: str, attempt: int = 1) -> JobView:
    return JobView(name=f"engine-build-{fingerprint}", uid=uid, fingerprint=fingerprint,
                   attempt=attempt, spec_hash="")


def test_a_created_job_counts_until_the_index_shows_it() -> None:
    created = CreatedJobs()
    created.add(_job("aaaa", "uid-1"))
    assert created.merged({})["aaaa"].uid == "uid-1"
    shown = {"aaaa": _job("aaaa", "uid-1")}
    assert created.merged(shown) == shown
    # From then on the index is the truth: the Job deleted elsewhere is missing again.
    assert created.merged({}) == {}


def test_a_created_retry_hides_the_failed_attempt_the_index_still_shows() -> None:
    created = CreatedJobs()
    created.add(_job("aaaa", "uid-2", attempt=2))
    merged = created.merged({"aaaa": _job("aaaa", "uid-1"), "bbbb": _job("bbbb", "uid-9")})
    assert (merged["aaaa"].uid, merged["aaaa"].attempt) == ("uid-2", 2)
    assert merged["bbbb"].uid == "uid-9"


def test_a_created_job_is_forgotten_when_deleted_here_or_after_its_time() -> None:
    created = CreatedJobs()
    created.add(_job("aaaa", "uid-1"))
    created.forget("aaaa")
    assert created.merged({}) == {}
    stale = CreatedJobs(ttl=0)
    stale.add(_job("aaaa", "uid-1"))
    assert stale.merged({}) == {}

"""The engine catalogue: records survive a round trip, and an engine is collected only after its
grace period, when no model needs it and no pod serves it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from classroom_operator.engines.catalogue import (
    CatalogueEntry,
    cleanup_job,
    cleanup_job_name,
    due_for_collection,
    is_cleanup_of,
    parse_catalogue,
    reclaimed,
    released,
)
from classroom_operator.settings import Settings

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def _entry(fingerprint: str, released_minutes_ago: float | None) -> CatalogueEntry:
    entry = CatalogueEntry(fingerprint, "cpu", "onnxruntime-cpu", "2026-11-25T10:00:00Z",
                           {"sizeBytes": 12, "throughput": {"batch": 8, "cropsPerSecond": 5.0}})
    if released_minutes_ago is None:
        return entry
    return released(entry, NOW - timedelta(minutes=released_minutes_ago))


def test_round_trip_through_the_configmap() -> None:
    entries = [_entry("a" * 16, None), _entry("b" * 16, 3)]
    data = {e.fingerprint: e.to_json() for e in entries}
    data["garbage"] = "not json"
    assert parse_catalogue(data) == {e.fingerprint: e for e in entries}


def test_reclaim_clears_the_grace_period() -> None:
    assert reclaimed(_entry("a" * 16, 3)).released_at is None


def test_due_only_after_grace_unused_and_unserved() -> None:
    entries = [
        _entry("in-use-by-none-old", 20),
        _entry("released-recently", 5),
        _entry("still-needed-old", 20),
        _entry("served-by-a-pod", 20),
        _entry("never-released", None),
    ]
    due = due_for_collection(entries, needed={"still-needed-old"}, serving={"served-by-a-pod"},
                             now=NOW, grace_seconds=600)
    assert due == ["in-use-by-none-old"]


def test_zero_grace_collects_at_once() -> None:
    assert due_for_collection([_entry("x", 0)], needed=set(), serving=set(), now=NOW,
                              grace_seconds=0) == ["x"]


SETTINGS = Settings(namespace="ops", builder_image="img:1", tensorrt_version="10",
                    gpu_backend="tensorrt", engine_store_claim="engines", peering=None,
                    engine_gc_seconds=60, pod_ip="127.0.0.1")


def test_cleanup_job_removes_one_fingerprint() -> None:
    entry = _entry("0123456789abcdef", 20)
    job = cleanup_job(entry, SETTINGS, owner_uid="u")
    container = job["spec"]["template"]["spec"]["containers"][0]
    assert job["metadata"]["name"] == cleanup_job_name(entry)
    assert job["metadata"]["name"].startswith("engine-gc-0123456789abcdef-")
    assert len(job["metadata"]["name"]) <= 63
    assert container["command"] == ["classroom-inference", "gc", "--store",
                                    "/var/lib/classroom/engines", "--fingerprint",
                                    "0123456789abcdef"]
    assert job["metadata"]["ownerReferences"][0]["uid"] == "u"
    assert is_cleanup_of(job, entry)


def test_each_grace_cycle_has_its_own_cleanup_job() -> None:
    first = _entry("0123456789abcdef", 20)
    released_again = released(reclaimed(first), NOW)
    rebuilt = released(CatalogueEntry(first.fingerprint, "cpu", "onnxruntime-cpu",
                                      "2026-11-25T11:30:00Z"), NOW - timedelta(minutes=20))
    names = {cleanup_job_name(e) for e in (first, released_again, rebuilt)}
    assert len(names) == 3
    # The last cycle's finished Job, still kept for its ttl, is not this cycle's cleanup.
    previous = cleanup_job(first, SETTINGS, owner_uid="u")
    assert not is_cleanup_of(previous, released_again)
    assert not is_cleanup_of(previous, rebuilt)
    # Nor is an unrelated Job that happens to carry the name.
    assert not is_cleanup_of({"metadata": {"name": cleanup_job_name(first)}}, first)

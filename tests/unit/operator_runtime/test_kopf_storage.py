"""What kopf keeps on a ClassroomModel: handler progress and the spec last handled in
status.kopf (one status patch, no annotation written), the older annotations still read and
removed, and an essence that is the same as kopf's own for every body."""

from __future__ import annotations

import copy
import json
from typing import Any, cast

import kopf
import pytest
from classroom_operator.cli import diffbase_storage, progress_storage

PREFIX = "classroom-operator.io"


def _body(**extra: Any) -> kopf.Body:
    raw: dict[str, Any] = {
        "apiVersion": "classroom-operator.io/v1alpha1", "kind": "ClassroomModel",
        "metadata": {
            "name": "grade-5", "namespace": "school", "uid": "u1", "generation": 3,
            "resourceVersion": "812", "finalizers": [f"{PREFIX}/finalizer"],
            "labels": {"team": "vision"},
            "annotations": {
                "note": "kept",
                "kubectl.kubernetes.io/last-applied-configuration": "{}",
                f"{PREFIX}/kopf-managed": "yes",
                f"{PREFIX}/check_spec": '{"started":"2026-01-01T00:00:00","retries":1}',
            },
            "managedFields": [{"manager": "kubectl", "fieldsV1": {"f:spec": {}}}],
        },
        "spec": {"model": {"uri": "https://models.example.org/a.onnx"},
                 "engine": {"batch": {"min": 1, "max": 16}}},
        "status": {"phase": "Building", "enginesNeeded": 6,
                   "kopf": {"last-handled-configuration": json.dumps({"spec": {"old": 1}})}},
    }
    raw.update(extra)
    return kopf.Body(cast(kopf.RawBody, raw))


@pytest.mark.parametrize("extra_fields", [
    None, [("spec",)], [("spec", "model")], [("status", "phase")], [("metadata", "generation")],
    [("status", "kopf")], [("metadata", "annotations")],
    ["status.phase", "metadata.labels"],
])
def test_the_essence_is_kopfs_own(extra_fields: Any) -> None:
    ours = diffbase_storage()
    kopfs = kopf.MultiDiffBaseStorage(list(ours.storages))  # type: ignore[attr-defined]
    body = _body()
    before = copy.deepcopy(dict(body))
    assert ours.build(body=body, extra_fields=extra_fields) == kopfs.build(
        body=body, extra_fields=extra_fields)
    assert dict(body) == before  # the body itself is left as it was


@pytest.mark.parametrize("raw", [
    {"spec": {"a": 1}},
    {"metadata": {"annotations": {f"{PREFIX}/check_spec": "{}", "x": "1"}}, "spec": {}},
    {"metadata": {"labels": {}, "annotations": {}}, "status": {"kopf": {"progress": {"a": {}}}}},
    {"status": {"kopf": {"progress": {"a": {}}, "dummy": "x"}, "phase": "Ready"}},
    {"status": {"kopf": {"dummy": "x"}}},
])
def test_progress_is_cleared_from_an_essence_as_kopf_clears_it(raw: dict[str, Any]) -> None:
    ours = progress_storage()
    kopfs = kopf.MultiProgressStorage(list(ours.storages))  # type: ignore[attr-defined]
    before = copy.deepcopy(raw)
    essence = cast(kopf.BodyEssence, raw)
    assert ours.clear(essence=essence) == kopfs.clear(essence=essence)
    assert raw == before


def test_the_essence_without_the_older_annotation_is_kopfs_own() -> None:
    ours = diffbase_storage()
    kopfs = kopf.MultiDiffBaseStorage(list(ours.storages))  # type: ignore[attr-defined]
    body = _body(metadata={"name": "grade-7", "annotations": {
        f"{PREFIX}/last-handled-configuration": '{"spec": {}}'}})
    essence = ours.build(body=body)
    assert essence == kopfs.build(body=body)
    assert "metadata" not in essence  # its only annotation gone, the stanza goes with it


def test_the_essence_is_a_copy() -> None:
    body = _body()
    essence = diffbase_storage().build(body=body)
    essence["spec"]["engine"]["batch"]["max"] = 32
    assert body["spec"]["engine"]["batch"]["max"] == 16


def test_progress_is_written_to_status_only() -> None:
    storage = progress_storage()
    body = _body(metadata={"name": "grade-6", "namespace": "school", "annotations": {}})
    patch = kopf.Patch()
    storage.store(key=kopf.HandlerId("check_spec"), record={"retries": 2}, body=body, patch=patch)
    storage.touch(body=body, patch=patch, value="2026-01-01T00:00:00")
    assert patch["status"]["kopf"]["progress"]["check_spec"] == {"retries": 2}
    assert patch["status"]["kopf"]["dummy"] == "2026-01-01T00:00:00"
    assert "metadata" not in patch  # no annotation, no marker: nothing but the status patch


def test_progress_in_older_annotations_is_read_and_purged() -> None:
    storage = progress_storage()
    body = _body()
    record = storage.fetch(key=kopf.HandlerId("check_spec"), body=body)
    assert record is not None and record["retries"] == 1
    patch = kopf.Patch()
    storage.purge(key=kopf.HandlerId("check_spec"), body=body, patch=patch)
    assert patch["metadata"]["annotations"][f"{PREFIX}/check_spec"] is None

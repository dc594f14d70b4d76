"""The largest spec each CRD admits stays well under kopf's bound: kopf records the spec it
handled in the annotation last-handled-configuration (JSON with ASCII escapes), and the API
server caps an object's annotations at 256 KiB in all, so a bigger spec could never be
reconciled. The API server must accept the largest spec (else it is not the largest), and the
same spec with one more stream must be refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from integration.admission.cases import valid_classroom, valid_model
from integration.admission.largest import (
    largest_classroom_spec,
    largest_model_spec,
    total_streams_cap,
)

Kubectl = Callable[..., Any]

BOUND = 200 * 1024  # leaves room under 256 KiB for metadata and kopf's other annotations


def _annotation_size(spec: dict[str, Any]) -> int:
    # What kopf writes: json.dumps with its compact separators and ASCII escapes.
    return len(json.dumps(spec, separators=(",", ":")).encode())


def _admitted(kubectl: Kubectl, obj: dict[str, Any]) -> dict[str, Any]:
    result = kubectl("create", "--dry-run=server", "-n", "default", "-o", "json", "-f", "-",
                     input=json.dumps(obj), check=False)
    assert result.returncode == 0, result.stderr[:4000]
    admitted: dict[str, Any] = json.loads(result.stdout)
    return admitted


@pytest.mark.parametrize("inline", [True, False], ids=["inline-classrooms", "selector"])
def test_largest_model_spec_is_admitted_and_under_the_bound(kubectl: Kubectl, crds: None,
                                                            inline: bool) -> None:
    model = valid_model()
    model["spec"] = largest_model_spec(inline)
    admitted = _admitted(kubectl, model)
    size = _annotation_size(admitted["spec"])
    print(f"largest ClassroomModel spec ({'inline' if inline else 'selector'}): {size} bytes")
    assert size > 50 * 1024, "the construction no longer reaches the caps"
    assert size < BOUND, f"{size} bytes: lower a cap in crds/classroommodels"


def test_largest_classroom_spec_is_admitted_and_under_the_bound(kubectl: Kubectl,
                                                                crds: None) -> None:
    room = valid_classroom()
    room["spec"] = largest_classroom_spec()
    size = _annotation_size(_admitted(kubectl, room)["spec"])
    print(f"largest Classroom spec: {size} bytes")
    assert size > 50 * 1024, "the construction no longer reaches the caps"
    assert size < BOUND, f"{size} bytes: lower a cap in crds/classrooms"


def test_one_stream_more_than_the_largest_is_refused(kubectl: Kubectl, crds: None) -> None:
    model = valid_model()
    model["spec"] = largest_model_spec(inline=True)
    rooms = model["spec"]["classrooms"]
    assert sum(len(room["streams"]) for room in rooms) == total_streams_cap()
    extra = dict(rooms[0]["streams"][0], url="rtsps://extra.example.org/one-more")
    extra["credentialsSecretRef"] = {"name": "extra"}
    rooms[0]["streams"].append(extra)
    result = kubectl("create", "--dry-run=server", "-n", "default", "-f", "-",
                     input=json.dumps(model), check=False)
    assert result.returncode != 0
    assert f"at most {total_streams_cap()} streams in all" in result.stderr, result.stderr[:4000]

"""`kubectl explain` teaches the API, and the short names clash with nothing the cluster serves."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Kubectl = Callable[..., Any]


def test_explain_engine_teaches(kubectl: Kubectl, crds: None) -> None:
    result = kubectl("explain", "classroommodel.spec.engine")
    assert result.returncode == 0, result.stderr
    for words in ("precision", "calibration", "batch", "workspaceMiB", "hardwareCompatibility",
                  "engine fingerprint", "int8"):
        assert words in result.stdout, words


def test_explain_reaches_nested_fields(kubectl: Kubectl, crds: None) -> None:
    batch = kubectl("explain", "cmodel.spec.engine.batch.max").stdout
    assert "at most 1024" in batch
    room = kubectl("explain", "room.spec.streams.layout").stdout
    assert "per-student" in room


def test_explain_teaches_where_credentials_go(kubectl: Kubectl, crds: None) -> None:
    ref = kubectl("explain", "room.spec.streams.credentialsSecretRef").stdout
    for words in ("username", "password", "only to the pod", "wins over its classroom's"):
        assert words in ref, words
    signing = kubectl("explain", "cmodel.spec.sink.webhook.secretRef.signingKey").stdout
    assert "Classroom-Signature" in signing
    rooms = kubectl("explain", "cmodel.spec.classrooms").stdout
    assert "District scale uses Classroom resources" in rooms


def test_short_names_are_unique(kubectl: Kubectl, crds: None) -> None:
    result = kubectl("api-resources", "--no-headers", "-o", "wide")
    assert result.returncode == 0, result.stderr
    short_names: list[str] = []
    for line in result.stdout.splitlines():
        fields = line.split()
        # NAME SHORTNAMES APIVERSION NAMESPACED KIND VERBS...: short names, when present, are
        # the one comma-separated column before the apiVersion (which holds a '/' or is 'v1').
        if len(fields) > 2 and ("/" in fields[2] or fields[2] == "v1"):
            short_names.extend(fields[1].split(","))
    assert short_names.count("cmodel") == 1
    assert short_names.count("room") == 1

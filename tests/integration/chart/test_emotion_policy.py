"""compliance.emotion on the real API server: with the default (disabled) the chart's
ValidatingAdmissionPolicy refuses a ClassroomModel mapping an emotion head, naming the field,
the policy and the fix, and admits one without; enabled installs no policy; a model admitted
before the policy keeps its metadata writable (the operator's finalizer) but its spec can only
change by dropping the head."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from integration.admission.cases import valid_model
from integration.chart.release import Release

POLICY_SECONDS = 60  # the API server loads a new policy through its informer


def _model(name: str, emotion: bool) -> dict[str, Any]:
    model = valid_model()
    model["metadata"]["name"] = name
    if not emotion:
        model["spec"]["model"]["outputs"].pop("emotion")
    return model


def _create(release: Release, model: dict[str, Any], *extra: str) -> tuple[int, str]:
    done = release.cluster.kubectl("create", "-n", release.namespace, *extra, "-f", "-",
                                   input=json.dumps(model), check=False)
    return done.returncode, done.stderr


def _until(release: Release, refused: bool) -> None:
    """Wait until a dry run of an emotion model is refused (or admitted) by the policy."""
    probe = _model("probe", emotion=True)
    deadline = time.monotonic() + POLICY_SECONDS
    while True:
        code, stderr = _create(release, probe, "--dry-run=server")
        if (code != 0 and "emotion-policy" in stderr) == refused:
            return
        assert time.monotonic() < deadline, f"policy refused={not refused} still: {stderr}"
        time.sleep(1)


def test_default_refuses_emotion_and_enabled_admits_it(
        release: Release, unfinalized: Callable[[str, str], None]) -> None:
    ns = release.namespace
    release.helm("install")
    _until(release, refused=True)

    code, stderr = _create(release, _model("feelings", emotion=True))
    assert code != 0
    for words in ("spec.model.outputs.emotion", f"{release.name}-emotion-policy",
                  "compliance.emotion=enabled", "Art. 5(1)(f)", "Drop the emotion head"):
        assert words in stderr, stderr
    assert release.cluster.kubectl("get", "cmodel", "feelings", "-n", ns,
                                   check=False).returncode != 0

    code, stderr = _create(release, _model("attention", emotion=False))
    assert code == 0, stderr
    unfinalized(ns, "attention")

    release.helm("upgrade", compliance={"emotion": "enabled"})
    assert release.cluster.kubectl("get", "validatingadmissionpolicy",
                                   f"{release.name}-emotion-policy",
                                   check=False).returncode != 0
    _until(release, refused=False)
    code, stderr = _create(release, _model("feelings", emotion=True))
    assert code == 0, stderr
    unfinalized(ns, "feelings")

    # Back to disabled: the model admitted meanwhile stays, its metadata stays writable.
    release.helm("upgrade", compliance={"emotion": "disabled"})
    _until(release, refused=True)
    annotate = release.cluster.kubectl("annotate", "cmodel", "feelings", "-n", ns,
                                       "example.org/reviewed=yes", check=False)
    assert annotate.returncode == 0, annotate.stderr
    change = release.cluster.kubectl(
        "patch", "cmodel", "feelings", "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"analysis": {"distractedAfterSeconds": 45}}}), check=False)
    assert change.returncode != 0 and "spec.model.outputs.emotion" in change.stderr
    drop = release.cluster.kubectl(
        "patch", "cmodel", "feelings", "-n", ns, "--type=merge",
        "-p", json.dumps({"spec": {"model": {"outputs": {"emotion": None}}}}), check=False)
    assert drop.returncode == 0, drop.stderr

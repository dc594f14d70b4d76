"""Every example applies cleanly to the real API server, and comes back with the CRD's defaults
filled in."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"

Kubectl = Callable[..., Any]


@pytest.mark.parametrize("example", ["small-site.yaml", "emotion-only.yaml", "district"])
def test_example_applies(kubectl: Kubectl, crds: None, namespace: str, example: str) -> None:
    result = kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / example))
    assert "created" in result.stdout
    assert "Warning" not in result.stderr, result.stderr


def test_defaults_are_filled_in(kubectl: Kubectl, crds: None, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "small-site.yaml"))
    got = kubectl("get", "cmodel", "attention-small-site", "-n", namespace, "-o", "json")
    spec = json.loads(got.stdout)["spec"]
    assert spec["model"]["input"] == {
        "name": "input", "shape": [3, 224, 224], "layout": "NCHW", "colorOrder": "RGB",
        "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}
    assert spec["engine"]["batch"] == {"min": 1, "opt": 32, "max": 128}
    assert spec["engine"]["workspaceMiB"] == 2048
    assert spec["serving"]["replicas"] == {"min": 1, "max": 16}
    assert spec["validation"]["minEmotionAgreement"] == 0.9
    assert {s["layout"] for room in spec["classrooms"] for s in room["streams"]} == {
        "per-student", "room"}
    assert spec["model"]["emotionLabels"] == [
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def test_district_model_selects_its_rooms(kubectl: Kubectl, crds: None, namespace: str) -> None:
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "district"))
    model = json.loads(kubectl("get", "cmodel", "attention-district", "-n", namespace,
                               "-o", "json").stdout)
    # The signing key sits beside the bearer token in the sink's Secret unless named.
    assert model["spec"]["sink"]["webhook"]["secretRef"]["signingKey"] == "signing-key"
    selector = model["spec"]["classroomSelector"]["matchLabels"]
    listed = kubectl("get", "room", "-n", namespace, "-o", "name",
                     "-l", ",".join(f"{key}={value}" for key, value in selector.items()))
    assert listed.stdout.split() == [
        "classroom.classroom-operator.io/lincoln-101",
        "classroom.classroom-operator.io/lincoln-102",
        "classroom.classroom-operator.io/roosevelt-lab-3",
    ]

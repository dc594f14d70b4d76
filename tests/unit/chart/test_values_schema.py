"""values.schema.json turns a typo or a wrong type into a failed install that names the key."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

SCHEMA = Path(__file__).resolve().parents[3] / "helm" / "classroom-operator" / "values.schema.json"

Template = Callable[[dict[str, Any]], Any]

REFUSED: dict[str, tuple[dict[str, Any], list[str]]] = {
    "unknown top-level key": ({"replicaCount": 2}, ["replicaCount"]),
    "unknown nested key": ({"operator": {"replica": 2}}, ["replica"]),
    "misspelt engine store key": ({"engineStore": {"storageClassName": "nfs"}},
                                  ["storageClassName"]),
    "unknown key in a toleration": ({"operator": {"tolerations": [{"keys": "gpu"}]}}, ["keys"]),
    "replicas as text": ({"operator": {"replicas": "two"}}, ["replicas"]),
    "replicas zero": ({"operator": {"replicas": 0}}, ["replicas"]),
    "backend not offered": ({"engines": {"gpuBackend": "pytorch"}}, ["gpuBackend"]),
    "grace period as text": ({"engines": {"gcGraceSeconds": "1h"}}, ["gcGraceSeconds"]),
    "negative GPU yield wait": ({"engines": {"yieldGpuAfterSeconds": -1}},
                                ["yieldGpuAfterSeconds"]),
    "keep flag as text": ({"engineStore": {"keepOnUninstall": "yes"}}, ["keepOnUninstall"]),
    "size not a quantity": ({"engineStore": {"size": "fifty gigs"}}, ["size"]),
    "claim name not DNS": ({"engineStore": {"existingClaim": "Engines_PVC"}}, ["existingClaim"]),
    "tensorrt version not a version": ({"builder": {"tensorrtVersion": "latest"}},
                                       ["tensorrtVersion"]),
    "pull policy not offered": ({"image": {"pullPolicy": "Sometimes"}}, ["pullPolicy"]),
    "node selector value not text": ({"operator": {"nodeSelector": {"gpu": True}}},
                                     ["nodeSelector"]),
    "peering name not DNS": ({"operator": {"peering": "Classroom Operator"}}, ["peering"]),
    "emotion policy not offered": ({"compliance": {"emotion": "off"}}, ["emotion"]),
    "misspelt compliance key": ({"compliance": {"emotions": "enabled"}}, ["emotions"]),
}


@pytest.mark.parametrize("case", REFUSED)
def test_schema_refuses_and_names_the_key(template: Template, case: str) -> None:
    values, names = REFUSED[case]
    result = template(values)
    assert result.returncode != 0, f"helm accepted {values}"
    assert "schema" in result.stderr
    for name in names:
        assert name in result.stderr, result.stderr


def _objects(schema: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    definitions = schema.get("definitions", {})

    def walk(node: dict[str, Any], where: str) -> Iterator[tuple[str, dict[str, Any]]]:
        if "$ref" in node:
            node = definitions[node["$ref"].rsplit("/", 1)[-1]]
        if node.get("type") == "object":
            yield where, node
        for key, child in node.get("properties", {}).items():
            yield from walk(child, f"{where}.{key}")
        if isinstance(node.get("items"), dict):
            yield from walk(node["items"], f"{where}[]")

    yield from walk(schema, path)


def test_every_object_refuses_unknown_keys_and_every_key_is_described() -> None:
    schema = json.loads(SCHEMA.read_text())
    # Free-form by design: label maps (keys are the user's) and the Kubernetes affinity and
    # parent-chart structures, which the API server and the parent chart check.
    free = {"$.global", "$.operator.affinity.nodeAffinity", "$.operator.affinity.podAffinity",
            "$.operator.affinity.podAntiAffinity"}
    for where, node in _objects(schema, "$"):
        if where in free or isinstance(node.get("additionalProperties"), dict):
            continue
        assert node.get("additionalProperties") is False, f"{where} accepts unknown keys"
        for key, child in node.get("properties", {}).items():
            assert child.get("description"), f"{where}.{key} has no description"

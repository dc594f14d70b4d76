"""The CRDs teach and bound themselves: every field is described (so `kubectl explain` teaches),
every CEL rule's message names its field, and every string and list under spec is bounded so the
API server's CEL cost estimator accepts the rules and etcd never sees an unbounded object."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

CRDS = Path(__file__).resolve().parents[3] / "crds"
OURS = ["classroommodels.classroom-operator.io.yaml", "classrooms.classroom-operator.io.yaml"]


def _schema(name: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / name).read_text())
    (version,) = crd["spec"]["versions"]
    schema: dict[str, Any] = version["schema"]["openAPIV3Schema"]
    return schema


def _nodes(node: dict[str, Any], path: str) -> Iterator[tuple[str, dict[str, Any]]]:
    yield path, node
    for key, child in node.get("properties", {}).items():
        yield from _nodes(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        yield from _nodes(node["items"], f"{path}[]")
    if isinstance(node.get("additionalProperties"), dict):
        yield from _nodes(node["additionalProperties"], f"{path}{{}}")


@pytest.mark.parametrize(
    "name", [*OURS, "clusterkopfpeerings.kopf.dev.yaml", "kopfpeerings.kopf.dev.yaml"])
def test_every_field_is_described(name: str) -> None:
    schema = _schema(name)
    undescribed = [path for path, node in _nodes(schema, "")
                   if path != ".metadata" and "{}" not in path and not path.endswith("[]")
                   and not node.get("description")]
    assert undescribed == []


@pytest.mark.parametrize("name", OURS)
def test_every_rule_message_names_a_field(name: str) -> None:
    rules = [(path, rule) for path, node in _nodes(_schema(name), "")
             for rule in node.get("x-kubernetes-validations", [])]
    assert rules
    for path, rule in rules:
        message = rule.get("message", "")
        assert message.startswith(("spec.", "metadata.")), f"{path}: {message!r}"


@pytest.mark.parametrize("name", OURS)
def test_every_spec_string_and_list_is_bounded(name: str) -> None:
    unbounded = []
    for path, node in _nodes(_schema(name)["properties"]["spec"], "spec"):
        if node.get("type") == "string" and "enum" not in node and "maxLength" not in node:
            unbounded.append(path)
        if node.get("type") == "array" and "maxItems" not in node:
            unbounded.append(path)
        if node.get("type") == "object" and isinstance(node.get("additionalProperties"), dict) \
                and "maxProperties" not in node:
            unbounded.append(path)
    assert unbounded == []


def test_printer_columns_read_status_fields_that_exist() -> None:
    crd = yaml.safe_load((CRDS / OURS[0]).read_text())
    (version,) = crd["spec"]["versions"]
    columns = {column["name"]: column["jsonPath"] for column in version["additionalPrinterColumns"]}
    assert list(columns) == ["Phase", "Engines", "Pods", "Streams", "Build", "Age"]
    # Build only with -o wide: a plain `kubectl get cmodel` keeps its width.
    priorities = {column["name"]: column.get("priority", 0)
                  for column in version["additionalPrinterColumns"]}
    assert {name for name, priority in priorities.items() if priority} == {"Build"}
    status = version["schema"]["openAPIV3Schema"]["properties"]["status"]
    for name, json_path in columns.items():
        if name == "Age":
            continue
        node = status
        for key in json_path.removeprefix(".status.").split("."):
            node = node["properties"][key]
        assert node["type"] == "string", name


def test_short_names_and_categories() -> None:
    names = {name: yaml.safe_load((CRDS / name).read_text())["spec"]["names"] for name in OURS}
    assert names[OURS[0]]["shortNames"] == ["cmodel"]
    assert names[OURS[1]]["shortNames"] == ["room"]
    assert all(value["categories"] == ["classroom"] for value in names.values())

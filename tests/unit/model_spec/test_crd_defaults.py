"""The parser's defaults are the CRD's: for every `default:` in the ClassroomModel schema, a spec
without that field parses exactly like one with the default written in. An object stored before a
default existed (or written with defaulting off) must behave like one the API server defaulted."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from classroom_operator.spec import parse_model

CRD = Path(__file__).resolve().parents[3] / "crds" / "classroommodels.classroom-operator.io.yaml"
SHA = "a" * 64
# A minimal valid spec holding every object and list a defaulted field lives in, so each
# default is exercised where the API server would apply it.
MINIMAL: dict[str, Any] = {
    "model": {"uri": "https://models.example.org/m.onnx", "sha256": SHA,
              "outputs": {"emotion": "logits"}},
    "engine": {"precision": "int8",
               "calibration": {"uri": "https://models.example.org/crops.tar", "sha256": SHA}},
    "serving": {"tolerations": [{"key": "nvidia.com/gpu", "value": "shared"}]},
    "classrooms": [{"name": "room-101", "streams": [{"url": "rtsp://cam/1"}]}],
    "sink": {"webhook": {"url": "https://labels.example.org/v1",
                         "secretRef": {"name": "sink", "key": "token"}}},
}


def _defaults(node: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    """(path, default) of every defaulted field under `node`; "[]" stands for a list's items."""
    if not isinstance(node, dict):
        return []
    found = [(path, node["default"])] if "default" in node else []
    for key, child in (node.get("properties") or {}).items():
        found += _defaults(child, (*path, key))
    if "items" in node:
        found += _defaults(node["items"], (*path, "[]"))
    for combinator in ("allOf", "anyOf", "oneOf"):
        for child in node.get(combinator) or []:
            found += _defaults(child, path)
    if isinstance(node.get("additionalProperties"), dict):
        found += _defaults(node["additionalProperties"], (*path, "*"))
    return found


def crd_defaults() -> list[tuple[tuple[str, ...], Any]]:
    document = yaml.safe_load(CRD.read_text())
    found = []
    for version in document["spec"]["versions"]:
        schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        found += _defaults(schema)
    return found


def _parent(spec: dict[str, Any], path: tuple[str, ...]) -> dict[str, Any]:
    """The object holding `path`'s last field; objects are made on the way, lists must exist."""
    node: Any = spec
    for key in path[:-1]:
        if key == "[]":
            assert isinstance(node, list) and node, f"MINIMAL needs an item in {path}"
            node = node[0]
        else:
            node = node.setdefault(key, {})
    assert isinstance(node, dict)
    return node


def test_the_crd_has_defaults_to_check() -> None:
    paths = {".".join(path) for path, _ in crd_defaults()}
    assert {"engine.precision", "serving.targetFps", "analysis.attentionThreshold",
            "serving.tolerations.[].operator", "classrooms.[].streams.[].layout"} <= paths


@pytest.mark.parametrize(("path", "default"), crd_defaults(),
                         ids=[".".join(path) for path, _ in crd_defaults()])
def test_a_missing_field_parses_as_its_crd_default(path: tuple[str, ...], default: Any) -> None:
    without = copy.deepcopy(MINIMAL)
    _parent(without, path).pop(path[-1], None)
    with_default = copy.deepcopy(without)
    _parent(with_default, path)[path[-1]] = copy.deepcopy(default)
    assert parse_model(without) == parse_model(with_default), (
        f"spec.{'.'.join(path)}: the parser's default differs from the CRD's {default!r}")


def test_a_different_value_parses_differently() -> None:
    """The comparison above can fail: a value other than the default gives another spec."""
    changed = copy.deepcopy(MINIMAL)
    changed["serving"]["targetFps"] = 15
    changed["analysis"] = {"attentionThreshold": 0.7}
    assert parse_model(changed).serving != parse_model(MINIMAL).serving
    assert parse_model(changed).pod_settings != parse_model(MINIMAL).pod_settings

"""`parse_model` reads the whole spec in one call: the engines' sections, the classroom selector
and the pods' analysis and sink, with the first unusable field named in the error."""

from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.spec import SpecError, parse_model, parse_spec


def test_one_call_holds_placement_selector_and_pod_settings(raw_spec: dict[str, Any]) -> None:
    raw = {**raw_spec, "classrooms": None,
           "classroomSelector": {"matchLabels": {"school": "lincoln"}},
           "analysis": {"attentionThreshold": 0.7},
           "sink": {"webhook": {"url": "https://labels.example.org/v1",
                                "secretRef": {"name": "sink", "key": "token"}}}}
    spec = parse_model(raw)
    assert spec.serving.placement.node_selector == (("school", "lincoln"),)
    assert spec.selector is not None and spec.selector.matches({"school": "lincoln"})
    assert not spec.selector.matches({"school": "roosevelt"})
    assert spec.pod_settings.analysis.attention_threshold == 0.7
    assert spec.pod_settings.sink.token is not None
    assert spec.pod_settings.sink.token.key == "token"


def test_the_engines_part_alone_matches(raw_spec: dict[str, Any]) -> None:
    whole, engines = parse_model(raw_spec), parse_spec(raw_spec)
    assert (whole.model, whole.engine, whole.validation, whole.serving, whole.classrooms) == (
        engines.model, engines.engine, engines.validation, engines.serving, engines.classrooms)
    assert whole.selector is None


@pytest.mark.parametrize(("change", "field"), [
    ({"classrooms": None, "classroomSelector": {"matchLabels": {"grade": 5}}},
     "spec.classroomSelector.matchLabels"),
    ({"sink": {"webhook": {"url": "ftp://labels"}}}, "spec.sink.webhook.url"),
    ({"analysis": {"smoothingSeconds": 0}}, "spec.analysis.smoothingSeconds"),
])
def test_a_bad_field_beyond_the_engines_is_named(raw_spec: dict[str, Any],
                                                 change: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as error:
        parse_model({**raw_spec, **change})
    assert error.value.field == field

"""spec.analysis and spec.sink as the pods are told them; bad values name the field and fix."""

from __future__ import annotations

from typing import Any

import pytest
from classroom_operator.spec import SpecError
from classroom_operator.spec.pod_settings import Analysis, SecretKey, parse_pod_settings


def test_defaults_are_the_crds() -> None:
    settings = parse_pod_settings({})
    assert settings.analysis == Analysis(30.0, 0.5, 2.0, 60.0)
    assert settings.analysis.to_document() == {
        "distractedAfterSeconds": 30.0, "attentionThreshold": 0.5, "smoothingSeconds": 2.0,
        "summaryEverySeconds": 60.0}
    assert settings.sink.url is None and settings.sink.token is None
    assert settings.sink.to_document() == {}


def test_given_values_are_kept() -> None:
    settings = parse_pod_settings({
        "analysis": {"distractedAfterSeconds": 12, "attentionThreshold": 0, "smoothingSeconds":
                     0.5, "summaryEverySeconds": 300},
        "sink": {"webhook": {"url": "http://sink.school.lan/events",
                             "secretRef": {"name": "webhook", "key": "bearer"}}},
    })
    assert settings.analysis == Analysis(12.0, 0.0, 0.5, 300.0)
    assert settings.sink.url == "http://sink.school.lan/events"
    assert settings.sink.token == SecretKey("webhook", "bearer")
    assert settings.sink.to_document() == {"webhook": {"url": "http://sink.school.lan/events"}}


@pytest.mark.parametrize(("spec", "field", "hint"), [
    ({"analysis": {"distractedAfterSeconds": 0}}, "spec.analysis.distractedAfterSeconds",
     "more than 0"),
    ({"analysis": {"smoothingSeconds": "2s"}}, "spec.analysis.smoothingSeconds", "number"),
    ({"analysis": {"attentionThreshold": 1.5}}, "spec.analysis.attentionThreshold", "0 to 1"),
    ({"analysis": {"summaryEverySeconds": True}}, "spec.analysis.summaryEverySeconds",
     "number"),
    ({"analysis": [1]}, "spec.analysis", "object"),
    ({"sink": "https://x"}, "spec.sink", "webhook"),
    ({"sink": {"webhook": {"url": "ftp://x/y"}}}, "spec.sink.webhook.url", "https"),
    ({"sink": {"webhook": {"url": "https://x", "secretRef": {"key": "t"}}}},
     "spec.sink.webhook.secretRef.name", "Secret"),
    ({"sink": {"webhook": {"url": "https://x", "secretRef": {"name": "s", "key": ""}}}},
     "spec.sink.webhook.secretRef.key", "key"),
])
def test_bad_values_name_the_field(spec: dict[str, Any], field: str, hint: str) -> None:
    with pytest.raises(SpecError, match=hint) as caught:
        parse_pod_settings(spec)
    assert caught.value.field == field
    assert str(caught.value).startswith(field)

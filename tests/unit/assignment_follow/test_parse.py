from __future__ import annotations

from typing import Any

import pytest
from classroom_inference.serving.assignment import AssignmentInvalid, parse_assignment


def test_takes_this_pods_entry_only(document: Any, room: Any) -> None:
    doc = document({"web-0": [room("room-101", "a", "b")], "web-1": [room("room-102", "c")]})
    a = parse_assignment(doc, "web-0")
    assert a.listed
    assert set(a.streams) == {"a", "b"}
    assert a.streams["a"].classroom == "room-101"
    assert a.sink_url == "https://sink.example/hook"
    assert a.analysis.distracted_after_seconds == 30


def test_a_pod_not_listed_yet_serves_nothing(document: Any, room: Any) -> None:
    a = parse_assignment(document({"web-1": [room("room-102", "c")]}), "web-0")
    assert not a.listed and a.streams == {}


def test_analysis_defaults_and_no_sink(document: Any) -> None:
    doc = document({"web-0": []})
    del doc["analysis"], doc["sink"]
    a = parse_assignment(doc, "web-0")
    assert a.analysis.smoothing_seconds == 2 and a.analysis.summary_every_seconds == 60
    assert a.sink_url is None




@pytest.mark.parametrize(("mutate", "message"), [
    (lambda d: d.pop("fingerprint"), r"^fingerprint is missing"),
    (lambda d: d.update(generation="3"), r"^generation must be int, got str"),
    (lambda d: d.update(generation=True), r"^generation must be int, got bool"),
    (lambda d: d["analysis"].update(attentionThreshold=1.5),
     r"analysis.attentionThreshold must be in \[0.0, 1.0\], got 1.5"),
    (lambda d: d["analysis"].update(attentionThreshold=float("nan")),
     r"analysis.attentionThreshold must be a finite number, got nan"),
    (lambda d: d["analysis"].update(smoothingSeconds=float("inf")),
     r"analysis.smoothingSeconds must be a finite number, got inf"),
    (lambda d: d["analysis"].update(summaryEverySeconds=float("-inf")),
     r"analysis.summaryEverySeconds must be a finite number, got -inf"),
    (lambda d: d["analysis"].update(distractedAfterSeconds=float("nan")),
     r"analysis.distractedAfterSeconds must be a finite number, got nan"),
    (lambda d: d["analysis"].update(distractedAfterSeconds=0),
     r"analysis.distractedAfterSeconds must be > 0.0"),
    (lambda d: d["sink"]["webhook"].update(url="ftp://x/y"),
     r"sink.webhook.url must be an http:// or https:// URL"),
    (lambda d: d["pods"]["web-0"][0]["streams"][1].update(layout="panorama"),
     r"pods\['web-0'\]\[0\].streams\[1\].layout must be one of per-student, room"),
    (lambda d: d["pods"]["web-0"][0]["streams"][1].update(id="a"),
     r"streams\[1\].id 'a' is assigned twice"),
    (lambda d: d["pods"]["web-0"][0]["streams"][0].pop("url"),
     r"pods\['web-0'\]\[0\].streams\[0\].url is missing"),
    (lambda d: d["pods"].update({"web-0": {"name": "x"}}), r"must be a list of classrooms"),
])
def test_bad_documents_name_the_field(mutate: Any, message: str, document: Any,
                                      room: Any) -> None:
    doc = document({"web-0": [room("room-101", "a", "b")]})
    mutate(doc)
    with pytest.raises(AssignmentInvalid, match=message):
        parse_assignment(doc, "web-0")


def test_not_an_object() -> None:
    with pytest.raises(AssignmentInvalid, match="JSON object"):
        parse_assignment([1, 2], "web-0")

"""A ClassroomModel's spec: `parse_model` reads all of it into one frozen `ModelSpec`.

One entry point for the whole spec: the sections that decide the engines (model, engine,
validation, serving with its placement, classrooms; `sections.py`), the classroom selector
(`selector.py`) and what the inference pods are told besides their rooms (analysis and sink;
`pod_settings.py`). Field readers and `SpecError` live in `fields.py`. Everything here is pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from classroom_operator.spec.fields import DATA_SCHEMES, STREAM_SCHEMES, SpecError
from classroom_operator.spec.model import (
    Batch,
    Calibration,
    Classroom,
    Engine,
    Model,
    ModelInput,
    ModelOutputs,
    ModelSpec,
    Placement,
    Serving,
    Stream,
    Toleration,
    Validation,
)
from classroom_operator.spec.pod_settings import PodSettings, parse_pod_settings
from classroom_operator.spec.sections import (
    EMOTION_LABELS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    parse_placement,
    parse_spec,
)
from classroom_operator.spec.selector import Selector, parse_selector

__all__ = [
    "DATA_SCHEMES",
    "EMOTION_LABELS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "STREAM_SCHEMES",
    "Batch",
    "Calibration",
    "Classroom",
    "Engine",
    "Model",
    "ModelInput",
    "ModelOutputs",
    "ModelSpec",
    "Placement",
    "PodSettings",
    "Selector",
    "Serving",
    "SpecError",
    "Stream",
    "Toleration",
    "Validation",
    "parse_model",
    "parse_placement",
    "parse_selector",
    "parse_spec",
]


def parse_model(raw: Mapping[str, Any]) -> ModelSpec:
    """The whole spec of a ClassroomModel: its engines' sections, the classroom selector and the
    pods' analysis and sink. `SpecError` names the first unusable field, in that order."""
    spec = parse_spec(raw)
    selector = raw.get("classroomSelector")
    return replace(spec,
                   selector=parse_selector(selector) if isinstance(selector, Mapping) else None,
                   pod_settings=parse_pod_settings(raw))

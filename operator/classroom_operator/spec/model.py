"""A ClassroomModel's spec as frozen dataclasses (`parse_model` in this package fills them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from classroom_operator.spec.pod_settings import PodSettings
from classroom_operator.spec.selector import Selector


@dataclass(frozen=True)
class ModelInput:
    name: str
    channels: int
    height: int
    width: int
    layout: str
    color_order: str
    mean: tuple[float, ...]
    std: tuple[float, ...]


@dataclass(frozen=True)
class ModelOutputs:
    attention: str | None
    emotion: str | None
    engagement: str | None


@dataclass(frozen=True)
class Model:
    uri: str
    sha256: str
    input: ModelInput
    outputs: ModelOutputs
    emotion_labels: tuple[str, ...]


@dataclass(frozen=True)
class Calibration:
    uri: str
    sha256: str
    samples: int


@dataclass(frozen=True)
class Batch:
    min: int
    opt: int
    max: int


@dataclass(frozen=True)
class Engine:
    precision: str
    calibration: Calibration | None
    batch: Batch
    workspace_mib: int
    timing_cache: bool
    hardware_compatibility: str
    version_compatible: bool
    builder_image: str | None


@dataclass(frozen=True)
class Validation:
    uri: str | None
    sha256: str | None
    samples: int
    max_attention_error: float
    min_emotion_agreement: float
    max_engagement_error: float
    max_latency_regression_percent: float


@dataclass(frozen=True)
class Toleration:
    key: str
    operator: str
    value: str
    effect: str
    toleration_seconds: int | None


@dataclass(frozen=True)
class Placement:
    """Where the model's engines are built and served: nodes matching all of node_selector, whose
    taints the tolerations cover. Hashable, so models sharing a placement share its node set."""

    node_selector: tuple[tuple[str, str], ...]
    tolerations: tuple[Toleration, ...]


@dataclass(frozen=True)
class Serving:
    target_fps: int
    max_latency_ms: int
    replicas_min: int
    replicas_max: int
    placement: Placement
    resources: Mapping[str, Any]


@dataclass(frozen=True)
class Stream:
    url: str
    layout: str
    # The Secret (same namespace) with the camera's username and password: the stream's own
    # credentialsSecretRef, else its classroom's; None when the camera needs no login.
    credentials: str | None = None


@dataclass(frozen=True)
class Classroom:
    name: str
    streams: tuple[Stream, ...]
    seats: int | None = None  # faces a room camera sees; None: not declared


@dataclass(frozen=True)
class ModelSpec:
    model: Model
    engine: Engine
    validation: Validation
    serving: Serving
    classrooms: tuple[Classroom, ...]
    classroom_selector: Mapping[str, Any] | None
    # Filled by `parse_model`; `parse_spec` (the engines' part alone) leaves the defaults.
    selector: Selector | None = None
    pod_settings: PodSettings = field(default_factory=PodSettings)

"""What every inference pod of a model is told besides its classrooms: the analysis thresholds
and the sink (docs/contracts.md, "The inference pod").

spec.analysis and spec.sink go into the assignment file, except the sink's token and signing key,
which the pods read from the Secret that spec.sink.webhook.secretRef names (keys `key` and
`signingKey`), so neither ever sits in a ConfigMap.
Parsed like sections.py parses the rest: CRD defaults applied, anything unusable a `SpecError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from classroom_operator.spec.fields import SpecError

SECRET_NAME_MAX = 253
SIGNING_KEY_DEFAULT = "signing-key"


@dataclass(frozen=True)
class Analysis:
    distracted_after_seconds: float = 30.0
    attention_threshold: float = 0.5
    smoothing_seconds: float = 2.0
    summary_every_seconds: float = 60.0

    def to_document(self) -> dict[str, float]:
        return {
            "distractedAfterSeconds": self.distracted_after_seconds,
            "attentionThreshold": self.attention_threshold,
            "smoothingSeconds": self.smoothing_seconds,
            "summaryEverySeconds": self.summary_every_seconds,
        }


@dataclass(frozen=True)
class SecretKey:
    name: str
    key: str


@dataclass(frozen=True)
class Sink:
    url: str | None = None
    token: SecretKey | None = None
    # The HMAC key that signs deliveries: same Secret as the token, key `signingKey`.
    signing: SecretKey | None = None

    def to_document(self) -> dict[str, Any]:
        return {"webhook": {"url": self.url}} if self.url else {}


@dataclass(frozen=True)
class PodSettings:
    analysis: Analysis = field(default_factory=Analysis)
    sink: Sink = field(default_factory=Sink)


def _seconds(raw: Mapping[str, Any], key: str, default: float, high: float) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SpecError(f"analysis.{key}", f"must be a number of seconds above 0, up to {high:g}")
    if not 0 < value <= high:
        raise SpecError(f"analysis.{key}", f"is {value:g}; use more than 0 and at most {high:g}")
    return float(value)


def parse_analysis(raw: Any) -> Analysis:
    if raw is None:
        return Analysis()
    if not isinstance(raw, Mapping):
        raise SpecError("analysis", "must be an object, e.g. {distractedAfterSeconds: 30}")
    threshold = raw.get("attentionThreshold", 0.5)
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) \
            or not 0 <= threshold <= 1:
        raise SpecError("analysis.attentionThreshold",
                        f"is {threshold!r}; use a number from 0 to 1, e.g. 0.5")
    return Analysis(
        distracted_after_seconds=_seconds(raw, "distractedAfterSeconds", 30.0, 3600),
        attention_threshold=float(threshold),
        smoothing_seconds=_seconds(raw, "smoothingSeconds", 2.0, 600),
        summary_every_seconds=_seconds(raw, "summaryEverySeconds", 60.0, 86400),
    )


def parse_sink(raw: Any) -> Sink:
    if raw is None:
        return Sink()
    if not isinstance(raw, Mapping):
        raise SpecError("sink", "must be an object like {webhook: {url: https://...}}")
    webhook = raw.get("webhook")
    if webhook is None:
        return Sink()
    if not isinstance(webhook, Mapping):
        raise SpecError("sink.webhook", "must be an object with url and optional secretRef")
    url = webhook.get("url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) \
            or url in ("https://", "http://"):
        raise SpecError("sink.webhook.url",
                        f"{url!r} is not an https or http URL, e.g. https://labels.example.org/v1")
    reference = webhook.get("secretRef")
    if reference is not None:
        if not isinstance(reference, Mapping):
            raise SpecError("sink.webhook.secretRef", "must be {name, key} of a Secret in the "
                            "model's namespace")
        name, key = reference.get("name"), reference.get("key")
        if not isinstance(name, str) or not name or len(name) > SECRET_NAME_MAX:
            raise SpecError("sink.webhook.secretRef.name", "name the Secret holding the token")
        if not isinstance(key, str) or not key:
            raise SpecError("sink.webhook.secretRef.key", "name the key of the token in the "
                            "Secret, e.g. token")
        signing_key = reference.get("signingKey", SIGNING_KEY_DEFAULT)
        if not isinstance(signing_key, str) or not signing_key:
            raise SpecError("sink.webhook.secretRef.signingKey", "name the key of the HMAC "
                            f"signing key in the Secret, e.g. {SIGNING_KEY_DEFAULT}")
        if signing_key == key:
            raise SpecError("sink.webhook.secretRef.signingKey", "must differ from "
                            "secretRef.key: the bearer token travels with every delivery, so "
                            f"it cannot also sign them; keep the HMAC key under its own key "
                            f"(default {SIGNING_KEY_DEFAULT})")
        token = SecretKey(name=name, key=key)
        signing = SecretKey(name=name, key=signing_key)
        return Sink(url=url, token=token, signing=signing)
    return Sink(url=url)


def parse_pod_settings(spec: Mapping[str, Any]) -> PodSettings:
    """spec.analysis and spec.sink of a ClassroomModel; `SpecError` names the first bad field."""
    return PodSettings(analysis=parse_analysis(spec.get("analysis")),
                       sink=parse_sink(spec.get("sink")))

"""Validation: the built engine against the fp32 ONNX reference, on the same face crops.

The reference is the user's original model on ONNX Runtime's CPU provider, fed crops normalised
in numpy (preprocess.normalise), not the fused graph; so a mistake in the fusion, the precision
conversion or the backend all show up here. The engine runs through the same runner the pod uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from classroom_inference.builder.errors import InvalidModel, UnsupportedOperator, ValidationFailed
from classroom_inference.builder.preprocess import normalise
from classroom_inference.builder.spec import ModelSpec, ValidationSpec


@dataclass(frozen=True)
class ValidationReport:
    samples: int
    source: str
    attention_mae: float | None
    emotion_agreement: float | None
    engagement_mae: float | None
    thresholds: ValidationSpec
    failures: tuple[str, ...]
    warnings: tuple[str, ...] = ()  # "<Code>: <text>": passed, but something looks wrong

    @property
    def passed(self) -> bool:
        return not self.failures

    def summary(self) -> dict[str, Any]:
        """The `validation` object of the builder summary (docs/contracts.md)."""
        return {"attentionMae": _round(self.attention_mae),
                "emotionAgreement": _round(self.emotion_agreement),
                "engagementMae": _round(self.engagement_mae), "passed": self.passed}

    def document(self) -> dict[str, Any]:
        """validation.json."""
        return {
            "schemaVersion": 1,
            **self.summary(),
            "samples": self.samples,
            "source": self.source,
            "thresholds": {"maxAttentionError": self.thresholds.max_attention_error,
                           "minEmotionAgreement": self.thresholds.min_emotion_agreement,
                           "maxEngagementError": self.thresholds.max_engagement_error},
            "failures": list(self.failures),
            "warnings": list(self.warnings),
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def open_reference(model_path: Path) -> Any:
    """The user's model on ONNX Runtime CPU, fp32: the reference every engine is checked against.

    Opened right after the model checks, so a model ONNX Runtime cannot run fails early.
    """
    import onnxruntime as ort

    try:
        return ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT's own exception types
        message = str(exc)
        if "NOT_IMPLEMENTED" in message or "Could not find an implementation" in message:
            raise UnsupportedOperator(f"spec.model.uri: ONNX Runtime has no kernel for an "
                                      f"operator of this model: {message}; re-export with "
                                      "standard operators") from exc
        raise InvalidModel(f"spec.model.uri: ONNX Runtime cannot load the model: {message}; "
                           "check the export (onnx.checker) and update uri and sha256") from exc


def reference_infer(session: Any, spec: ModelSpec) -> Callable[[np.ndarray], dict[str, np.ndarray]]:
    """The original model's heads in fp32, on uint8 crops preprocessed in numpy."""
    heads = list(spec.outputs)
    names = [spec.outputs[h] for h in heads]

    def infer(crops: np.ndarray) -> dict[str, np.ndarray]:
        values = session.run(names, {spec.input.name: normalise(crops, spec.input)})
        return dict(zip(heads, values, strict=True))

    return infer


def run_in_batches(infer: Callable[[np.ndarray], dict[str, np.ndarray]], crops: np.ndarray,
                   low: int, high: int) -> dict[str, np.ndarray]:
    """Run every crop through an engine whose profile takes batches of `low`..`high`.

    A short last batch is padded with copies of its first crop and the padding dropped.
    """
    parts: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(crops), high):
        chunk = crops[start:start + high]
        real = len(chunk)
        if real < low:
            chunk = np.concatenate([chunk, np.repeat(chunk[:1], low - real, axis=0)])
        for head, value in infer(chunk).items():
            parts.setdefault(head, []).append(np.asarray(value, dtype=np.float32)[:real])
    return {h: np.concatenate(v) for h, v in parts.items()}


def compare(reference: dict[str, np.ndarray], engine: dict[str, np.ndarray],
            thresholds: ValidationSpec, source: str,
            warnings: tuple[str, ...] = ()) -> ValidationReport:
    """Engine against reference, head by head; the reference has had the activations the
    engine's graph appends (heads.apply_activations), so both mean the same thing."""
    def mae(head: str) -> float | None:
        if head not in reference:
            return None
        return float(np.mean(np.abs(engine[head].reshape(-1) - reference[head].reshape(-1))))

    attention, engagement = mae("attention"), mae("engagement")
    agreement = None
    if "emotion" in reference:
        agreement = float(np.mean(engine["emotion"].argmax(1) == reference["emotion"].argmax(1)))
    failures = []
    if attention is not None and attention > thresholds.max_attention_error:
        failures.append(f"attention mean absolute error {attention:.4f} is above "
                        f"maxAttentionError {thresholds.max_attention_error}")
    if agreement is not None and agreement < thresholds.min_emotion_agreement:
        failures.append(f"emotion top-1 agreement {agreement:.4f} is below "
                        f"minEmotionAgreement {thresholds.min_emotion_agreement}")
    if engagement is not None and engagement > thresholds.max_engagement_error:
        failures.append(f"engagement mean absolute error {engagement:.4f} is above "
                        f"maxEngagementError {thresholds.max_engagement_error}")
    samples = len(next(iter(reference.values())))
    return ValidationReport(samples, source, attention, agreement, engagement, thresholds,
                            tuple(failures), warnings)


def raise_if_failed(report: ValidationReport, precision: str) -> None:
    if report.passed:
        return
    hint = ("use a higher precision (int8 -> fp16 -> fp32), a more representative calibration "
            "set, or relax the thresholds in spec.validation") if precision != "fp32" else (
        "the engine disagrees with the model at fp32: check spec.model.input (mean, std, "
        "layout, colorOrder) or relax the thresholds in spec.validation")
    raise ValidationFailed(f"validation failed on {report.samples} {report.source} crops: "
                           + "; ".join(report.failures) + f"; {hint}",
                           validation=report.summary(), warnings=report.warnings)

"""What each head of the user's model outputs, decided once, and what the engine's heads mean.

The contract (docs/contracts.md, "Engine store") says the engine's `emotion` is [N, K]
probabilities and `attention` / `engagement` are scores in [0, 1]. Many exported models end in
logits instead. The builder looks at the model's heads on the validation crops (the fp32
reference) and decides per head:

  emotion                rows non-negative and summing to 1 (within PROBABILITY_TOLERANCE):
                         probabilities, kept; otherwise logits, and a Softmax over the class
                         axis is appended to the graph ("softmax-added").
  attention, engagement  every value in [0, 1] (within the tolerance): a score, kept; any value
                         outside: logits, and a Sigmoid is appended ("sigmoid-added").

The same activation is applied to the reference before validation compares it with the engine.
It also checks the heads' widths against the spec and flags heads that say nothing (the same
emotion for every crop, a score that does not vary): those build, with a DegenerateHead warning.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from classroom_inference.builder.errors import InvalidModel, InvalidSpec
from classroom_inference.builder.spec import ModelSpec

PROBABILITY_TOLERANCE = 1e-3
# A score head whose standard deviation over the crops is below this says nothing about them.
DEGENERATE_STD = 1e-3
KEPT, SOFTMAX_ADDED, SIGMOID_ADDED = "none", "softmax-added", "sigmoid-added"
ACTIVATION_OPS = {SOFTMAX_ADDED: "Softmax", SIGMOID_ADDED: "Sigmoid"}


def check_widths(outputs: Mapping[str, np.ndarray], spec: ModelSpec) -> None:
    """Each head's values per crop, as the model really returns them, against the spec."""
    for head, value in outputs.items():
        if value.ndim != 2:
            raise InvalidModel(f"spec.model.outputs.{head}: output {spec.outputs[head]!r} returns "
                               f"shape {list(value.shape)}; a head must be [N, K]")
        width = value.shape[1]
        if head == "emotion" and width != len(spec.emotion_labels):
            raise InvalidSpec(
                f"spec.model.emotionLabels: the emotion output has {width} classes but "
                f"{len(spec.emotion_labels)} labels are given "
                f"({', '.join(spec.emotion_labels)}); give one label per class in the model's "
                "order (the default is the 7 FER-2013 classes)")
        if head != "emotion" and width != 1:
            raise InvalidModel(f"spec.model.outputs.{head}: output {spec.outputs[head]!r} has "
                               f"{width} values per crop; the head must be one score per crop")


def decide_activations(outputs: Mapping[str, np.ndarray]) -> dict[str, str]:
    """Head -> KEPT, SOFTMAX_ADDED or SIGMOID_ADDED, from the reference's outputs."""
    decided = {}
    tol = PROBABILITY_TOLERANCE
    for head, value in outputs.items():
        if head == "emotion":
            probabilities = bool(value.min() >= -tol
                                 and np.all(np.abs(value.sum(axis=1) - 1.0) <= tol))
            decided[head] = KEPT if probabilities else SOFTMAX_ADDED
        else:
            score = bool(value.min() >= -tol and value.max() <= 1.0 + tol)
            decided[head] = KEPT if score else SIGMOID_ADDED
    return decided


def apply_activations(outputs: Mapping[str, np.ndarray],
                      activations: Mapping[str, str]) -> dict[str, np.ndarray]:
    """The reference's heads after the activations the engine's graph has, in float64 numpy."""
    done = {}
    for head, value in outputs.items():
        x = value.astype(np.float64)
        if activations.get(head) == SOFTMAX_ADDED:
            e = np.exp(x - x.max(axis=1, keepdims=True))
            x = e / e.sum(axis=1, keepdims=True)
        elif activations.get(head) == SIGMOID_ADDED:
            x = 1.0 / (1.0 + np.exp(-x))
        done[head] = x.astype(np.float32)
    return done


def degenerate_heads(outputs: Mapping[str, np.ndarray], labels: tuple[str, ...],
                     source: str) -> list[str]:
    """`DegenerateHead: ...` warnings for heads that give every crop the same answer."""
    samples = len(next(iter(outputs.values()))) if outputs else 0
    if samples < 2:
        return []
    hint = ("check spec.model.input (mean, std, colorOrder, layout) and spec.model.outputs, "
            "or validate on real face crops (spec.validation.uri)")
    warnings = []
    for head, value in outputs.items():
        if head == "emotion":
            top = np.unique(value.argmax(axis=1))
            if len(top) == 1:
                label = labels[int(top[0])] if int(top[0]) < len(labels) else str(top[0])
                warnings.append(f"DegenerateHead: emotion is {label!r} on all {samples} "
                                f"{source} crops; {hint}")
        elif float(value.std()) < DEGENERATE_STD:
            warnings.append(f"DegenerateHead: {head} is {float(value.mean()):.3f} on all "
                            f"{samples} {source} crops (std {float(value.std()):.1e}); {hint}")
    return warnings


def heads_document(activations: Mapping[str, str]) -> dict[str, Any]:
    """meta.json's `heads`: {"emotion": {"activation": "softmax-added"}, ...}."""
    return {head: {"activation": activation} for head, activation in sorted(activations.items())}

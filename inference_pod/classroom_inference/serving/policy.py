"""What the pod may infer about students, by the platform team's policy.

Emotion recognition in education institutions is prohibited by the EU AI Act (Regulation (EU)
2024/1689, Art. 5(1)(f), applicable since 2 February 2025) except for medical or safety reasons,
so a district can switch it off (`--emotion disabled`; the chart's `compliance.emotion`). The
engine still computes its emotion head (it is one graph), but the pod drops that output right
after inference, before the analysis: no emotion reaches series, summaries, events, the status
document or metrics, and no emotion label is held in the process's state.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from classroom_inference.serving.errors import ConfigurationError

EMOTION_CHOICES = ("enabled", "disabled")
EMOTION_HEAD = "emotion"

Output = TypeVar("Output")


@dataclass(frozen=True)
class InferencePolicy:
    emotion: bool = True

    def heads(self, engine_heads: Sequence[str]) -> tuple[str, ...]:
        """The engine's heads the pod may use; ConfigurationError when none is left."""
        allowed = tuple(h for h in engine_heads if self.emotion or h != EMOTION_HEAD)
        if not allowed:
            raise ConfigurationError(
                "the engine gives only an emotion head and --emotion disabled forbids it: "
                "nothing is left to serve; serve a model with an attention or engagement head")
        return allowed

    def outputs(self, outputs: dict[str, Output]) -> dict[str, Output]:
        """A batch's heads with those the policy forbids dropped."""
        if self.emotion:
            return outputs
        return {head: value for head, value in outputs.items() if head != EMOTION_HEAD}

    def status(self) -> dict[str, str]:
        return {"emotion": "enabled" if self.emotion else "disabled"}

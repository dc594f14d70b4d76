"""A condition in the Kubernetes shape, as the planners compute it; status.py adds
observedGeneration and lastTransitionTime when it merges them into the model's status."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Condition:
    type: str
    status: str
    reason: str
    message: str

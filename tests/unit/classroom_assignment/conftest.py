from __future__ import annotations

from collections.abc import Iterable

import pytest
from classroom_operator.rollout.assignment import Observed, Plan, PoolSize, plan
from classroom_operator.rollout.classrooms import Room
from unit.classroom_assignment.kit import FPS, NOW, PlanFn


@pytest.fixture
def replan() -> PlanFn:
    def run(rooms: Iterable[Room], pools: Iterable[PoolSize], observed: Observed | None = None,
            fps: int = FPS, successors: dict[str, str] | None = None, now: float = NOW) -> Plan:
        return plan(rooms, list(pools), observed or Observed(), target_fps=fps, now=now,
                    successors=successors)
    return run

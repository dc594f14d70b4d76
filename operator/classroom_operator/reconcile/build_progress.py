"""Where the model's running builds are: the step each build pod's log shows, read at most once
per build per `build_progress_seconds` (engines/build_progress.py decides, kube.py reads).

Progress is a courtesy: a log that cannot be read (the node does not answer, the chart of an
older release grants no pods/log) leaves the step unknown and never fails the pass.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import kopf

from classroom_operator.controller import OperatorState
from classroom_operator.engines.build_jobs import CONTAINER
from classroom_operator.engines.build_progress import (
    LOG_LIMIT_BYTES,
    LOG_TAIL_LINES,
    last_step,
    progress_at,
)
from classroom_operator.engines.build_results import PodView
from classroom_operator.engines.planning import EngineRecord, World
from classroom_operator.kube import KubeError

log = logging.getLogger(__name__)


async def _read_step(state: OperatorState, pod: PodView) -> None:
    try:
        tail = await state.kube.read_log_tail(state.settings.namespace, pod.name,
                                              container=CONTAINER, lines=LOG_TAIL_LINES,
                                              limit_bytes=LOG_LIMIT_BYTES)
    except (KubeError, kopf.TemporaryError) as error:
        if state.build_steps.unreadable(pod.name):
            log.warning("build progress: cannot read the log of %s (its step stays unknown): "
                        "%s", pod.name, error)
        else:
            log.debug("build progress: cannot read the log of %s: %s", pod.name, error)
        return
    state.build_steps.seen(pod.name, last_step(tail or ""))


async def with_progress(state: OperatorState, records: Sequence[EngineRecord], world: World,
                        now: datetime) -> tuple[EngineRecord, ...]:
    """`records`, with `progress` on each Building one whose build pod runs."""
    running = {fingerprint: pod for fingerprint, pods in world.pods.items()
               for pod in pods if pod.running and pod.started_at is not None}
    steps = state.build_steps
    steps.keep_only(pod.name for pod in running.values())
    pods = {record.fingerprint: running[record.fingerprint] for record in records
            if record.state == "Building" and record.fingerprint in running}
    clock = time.monotonic()
    due = [pod for pod in pods.values() if steps.claim(pod.name, clock)]
    await asyncio.gather(*(_read_step(state, pod) for pod in due))
    return tuple(
        replace(record, progress=progress_at(pod.started_at, steps.step(pod.name), now))
        if (pod := pods.get(record.fingerprint)) is not None and pod.started_at is not None
        else record
        for record in records)

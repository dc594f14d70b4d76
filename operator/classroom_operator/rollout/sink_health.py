"""How a model's webhook deliveries are doing, from its pods' reports (pure): status.sink and
the SinkHealthy condition.

A pod's sink is failing when its spool is full (new events are refused: they are being lost),
or when its last delivery failed and the oldest event still waiting is `LAG_SECONDS` old or
more: a receiver that is down, refuses the token or signature, or is unreachable, rather than
one retry of a busy moment. A pod that does not report the age of its oldest undelivered event
(an image from before `oldestUndeliveredSeconds`) is dated by how long the operator has seen its
deliveries fail with events waiting (`failing_since`): nothing was delivered meanwhile, so its
oldest event is at least that old. The pods scrub credentials from their errors; the text is
scrubbed again here (user info in any URL) and trimmed, as it lands in an object many people
read.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from classroom_operator.conditions import Condition
from classroom_operator.rollout.pod_reports import PodReport, SinkReport

LAG_SECONDS = 60.0
ERROR_LIMIT = 300
SHOWN = 3
_USER_INFO = re.compile(r"([A-Za-z][-+.A-Za-z0-9]*://)[^/@\s]*@")


def scrubbed(text: str) -> str:
    """One line, no user info in URLs, at most ERROR_LIMIT characters."""
    text = _USER_INFO.sub(r"\1", " ".join(text.split()))
    return text if len(text) <= ERROR_LIMIT else text[:ERROR_LIMIT - 3] + "..."


def stuck(sink: SinkReport) -> bool:
    """Its last delivery failed and events wait for the next."""
    return sink.last_error is not None and sink.failures > 0 and sink.spool_bytes > 0


def failing_since(reports: Mapping[str, PodReport | str], before: Mapping[str, float],
                  now: float) -> dict[str, float]:
    """Since when each pod's deliveries have been seen failing with events waiting (seconds
    since the epoch); a pod seen delivering, or not reporting, starts again."""
    since = {}
    for pod, report in reports.items():
        if isinstance(report, PodReport) and report.sink is not None and stuck(report.sink):
            since[pod] = before.get(pod, now)
    return since


def _dated(sink: SinkReport, since: float | None, now: float) -> SinkReport:
    if sink.oldest_undelivered_seconds is not None or since is None:
        return sink
    return replace(sink, oldest_undelivered_seconds=max(0.0, now - since))


def failing(sink: SinkReport) -> bool:
    if sink.spool_full:
        return True
    return stuck(sink) and (sink.oldest_undelivered_seconds or 0.0) >= LAG_SECONDS


def _why(pod: str, sink: SinkReport) -> str:
    parts = []
    if sink.last_error:
        parts.append(scrubbed(sink.last_error))
    if sink.spool_full:
        parts.append(f"the spool is full ({sink.spool_bytes} of {sink.spool_max_bytes} bytes): "
                     "new events are being lost")
    if sink.oldest_undelivered_seconds:
        parts.append(f"oldest undelivered event {sink.oldest_undelivered_seconds:.0f}s old")
    if sink.lost_events or sink.expired_events:
        parts.append(f"{sink.lost_events} events lost to a full spool and "
                     f"{sink.expired_events} to its retention so far")
    return f"{pod}: {', '.join(parts)}"


def sink_health(reports: Mapping[str, PodReport | str], since: Mapping[str, float] | None = None,
                now: float = 0.0) -> tuple[dict[str, Any], Condition]:
    """status.sink and SinkHealthy from the model's pods' reports (pod name -> report), with
    `since` from `failing_since` at `now` for pods that do not date their backlog."""
    sinks = {pod: _dated(report.sink, (since or {}).get(pod), now)
             for pod, report in sorted(reports.items())
             if isinstance(report, PodReport) and report.sink is not None
             and report.sink.configured}
    bad = {pod: sink for pod, sink in sinks.items() if failing(sink)}
    errors = [sink.last_error for sink in [*bad.values(), *sinks.values()] if sink.last_error]
    fields = {
        "podsReporting": len(sinks),
        "podsFailing": len(bad),
        "lastError": scrubbed(errors[0]) if errors else "",
        "spoolBytes": sum(sink.spool_bytes for sink in sinks.values()),
        "oldestUndeliveredSeconds": round(max(
            (sink.oldest_undelivered_seconds or 0.0 for sink in sinks.values()), default=0.0),
            1),
    }
    if not sinks:
        return fields, Condition("SinkHealthy", "Unknown", "NoReports",
                                 "no pod has reported a configured webhook (spec.sink) yet")
    if bad:
        shown = "; ".join(_why(pod, sink) for pod, sink in list(bad.items())[:SHOWN])
        more = f"; and {len(bad) - SHOWN} more" if len(bad) > SHOWN else ""
        return fields, Condition(
            "SinkHealthy", "False", "SinkFailing",
            f"{len(bad)} of {len(sinks)} pods cannot deliver to the webhook "
            f"(spec.sink.webhook); their events wait in the spool: {shown}{more}")
    return fields, Condition("SinkHealthy", "True", "Delivering",
                             f"{len(sinks)} pods deliver to the webhook")

"""A ClassroomModel's status, computed fresh from the engine records (pure).

Conditions follow the Kubernetes shape (type, status, reason, message, observedGeneration,
lastTransitionTime); a condition keeps its lastTransitionTime while its status does not change.
RolledOut and StreamsHealthy, status.pools and status.streams come from the inference rollout
(`RolloutStatus`, filled by reconcile/rollout.py); this module puts them beside the engines'
part.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from classroom_operator.conditions import Condition
from classroom_operator.engines.build_progress import build_summary
from classroom_operator.engines.inventory import InventoryView
from classroom_operator.engines.planning import EngineRecord

ENGINE_CONDITIONS = ("EnginesReady", "Validated", "Degraded")


@dataclass(frozen=True)
class RolloutStatus:
    """The rollout's part of status: status.pools, status.streams, podsReady and podsWanted,
    the Pods and Streams summary columns, RolledOut and StreamsHealthy."""

    fields: dict[str, Any]
    conditions: tuple[Condition, ...]
    summary: dict[str, str]
    wake_after: float | None = None

    @property
    def rolled_out(self) -> bool:
        return any(c.type == "RolledOut" and c.status == "True" for c in self.conditions)


def _describe(record: EngineRecord) -> str:
    text = f"{record.fingerprint} ({record.gpu_class})"
    if record.reason:
        text += f": {record.reason}"
    if record.message:
        text += f": {record.message}"
    return text


def _names(nodes: Sequence[str]) -> str:
    shown = ", ".join(nodes[:5])
    return shown + (f" and {len(nodes) - 5} more" if len(nodes) > 5 else "")


def engine_conditions(records: Sequence[EngineRecord], view: InventoryView,
                      spec_error: str | None) -> list[Condition]:
    """EnginesReady, Validated and Degraded for the model's engines."""
    if spec_error is not None:
        return [
            Condition("EnginesReady", "False", "InvalidSpec", spec_error),
            Condition("Validated", "Unknown", "InvalidSpec", spec_error),
            Condition("Degraded", "True", "InvalidSpec", spec_error),
        ]
    failed = [r for r in records if r.state == "Failed"]
    retrying = [r for r in records if r.state == "Building" and r.reason
                and r.reason != "Waiting"]
    ready = [r for r in records if r.state == "Ready"]
    waiting = (f" Waiting for the driver upgrade on {_names(view.settling)}."
               if view.settling else "")
    if not records:
        engines = Condition("EnginesReady", "False", "NoNodes",
                            "no schedulable, ready node matches spec.serving.nodeSelector and "
                            "tolerations; add nodes or widen the selection." + waiting)
    elif failed:
        engines = Condition("EnginesReady", "False", "BuildFailed",
                            "; ".join(_describe(r) for r in failed) + waiting)
    elif retrying:
        engines = Condition("EnginesReady", "False", "BuildRetrying",
                            "; ".join(_describe(r) for r in retrying) + waiting)
    elif len(ready) < len(records):
        engines = Condition("EnginesReady", "False", "Building",
                            f"{len(ready)} of {len(records)} engines ready" + waiting)
    else:
        engines = Condition("EnginesReady", "True", "AllReady",
                            f"{len(ready)} of {len(records)} engines ready" + waiting)
    invalid = [r for r in failed if r.reason == "ValidationFailed"]
    if invalid:
        validated = Condition("Validated", "False", "ValidationFailed",
                              "; ".join(_describe(r) for r in invalid))
    elif records and len(ready) == len(records):
        validated = Condition("Validated", "True", "ThresholdsMet",
                              "every engine matches the fp32 ONNX reference within "
                              "spec.validation's thresholds")
    else:
        validated = Condition("Validated", "Unknown", "NotBuilt",
                              "engines are validated as they are built")
    problems = []
    if failed:
        problems.append(("BuildFailed", "; ".join(_describe(r) for r in failed)))
    if view.incomplete:
        problems.append(("IncompleteGpuLabels",
                         f"nodes {_names(view.incomplete)} have a GPU product label but no "
                         "compute capability or driver version; check GPU Feature Discovery"))
    if problems:
        degraded = Condition("Degraded", "True", problems[0][0],
                             "; ".join(message for _, message in problems))
    else:
        degraded = Condition("Degraded", "False", "AsExpected", "nothing needs attention")
    return [engines, validated, degraded]


def phase_of(records: Sequence[EngineRecord], spec_error: str | None,
             rolled_out: bool = True) -> str:
    """Ready once every engine is ready and the pods serve with them; until the pods are
    rolled out the model is still Building."""
    if spec_error is not None:
        return "Failed"
    states = [r.state for r in records]
    if not states:
        return "Pending"
    if "Failed" in states:
        return "Degraded" if "Ready" in states else "Failed"
    if all(state == "Ready" for state in states):
        return "Ready" if rolled_out else "Building"
    return "Building"


def merge_conditions(previous: Iterable[Mapping[str, Any]], computed: Iterable[Condition],
                     generation: int, now: datetime) -> list[dict[str, Any]]:
    """The conditions list: computed ones replace theirs, others (e.g. RolledOut) are kept."""
    by_type = {str(item.get("type")): dict(item) for item in previous}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for condition in computed:
        old = by_type.get(condition.type)
        since = old.get("lastTransitionTime") if old and old.get("status") == condition.status \
            else None
        by_type[condition.type] = {
            "type": condition.type,
            "status": condition.status,
            "reason": condition.reason,
            "message": condition.message,
            "observedGeneration": generation,
            "lastTransitionTime": since or stamp,
        }
    order = {name: index for index, name in enumerate(
        ("EnginesReady", "Validated", "RolledOut", "StreamsHealthy", "Degraded"))}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], 99), c["type"]))


def model_status(records: Sequence[EngineRecord], view: InventoryView, *,
                 previous: Mapping[str, Any], generation: int, spec_error: str | None,
                 now: datetime, serving: RolloutStatus | None = None) -> dict[str, Any]:
    """The operator's part of status, ready to compare with and patch onto the live one.
    Without `serving` (a spec the rollout cannot use), its part of status stays as it was."""
    ready = sum(1 for r in records if r.state == "Ready")
    summary = dict(previous.get("summary") or {})
    summary["engines"] = f"{ready}/{len(records)}"
    summary["build"] = build_summary(records)
    computed = engine_conditions(records, view, spec_error)
    status: dict[str, Any] = {}
    if serving is not None:
        summary.update(serving.summary)
        computed += serving.conditions
        status.update(serving.fields)
    return {
        "observedGeneration": generation,
        "phase": phase_of(records, spec_error, serving is None or serving.rolled_out),
        "conditions": merge_conditions(previous.get("conditions") or [], computed,
                                       generation, now),
        "engines": [record.to_status() for record in records],
        "enginesReady": ready,
        "enginesNeeded": len(records),
        "summary": summary,
        **status,
    }


def status_patch(live: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """Only the top-level status fields whose value changed (a merge patch)."""
    return {key: value for key, value in desired.items() if live.get(key) != value}

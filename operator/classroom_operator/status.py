"""A ClassroomModel's status, computed fresh from the engine records (pure).

Conditions follow the Kubernetes shape (type, status, reason, message, observedGeneration,
lastTransitionTime); a condition keeps its lastTransitionTime while its status does not change.
RolledOut, StreamsHealthy and SinkHealthy, status.pools, status.streams and status.sink come from
the inference rollout (`RolloutStatus`, filled by reconcile/rollout.py); this module puts them
beside the engines' part.

Degraded is True when something needs a person's attention, with the first problem's reason and
every problem in the message: a failed build (`BuildFailed`), nodes with half their GPU labels
(`IncompleteGpuLabels`), a write the API server refused (`WriteRefused`: the object and the API
server's message; e.g. a StatefulSet whose resources request more than their limits), or pods
whose webhook deliveries fail (`SinkFailing`, from SinkHealthy).

Ready rolls the others up, so `kubectl wait --for=condition=Ready cmodel/<name>` waits for a
model that serves: it is True exactly when Degraded is False, EnginesReady is True, RolledOut is
True, and StreamsHealthy is True. A model with no classroom to serve (RolledOut True with reason
NoClassrooms, StreamsHealthy Unknown with reason NoStreams) is Ready: its engines are built and
validated and nothing it is asked to serve is unhealthy; it starts pods for its first classroom.
Otherwise Ready is False with the reason and message of the first blocking condition, looked at
in the order Degraded (something is wrong), EnginesReady, RolledOut, StreamsHealthy (still on
its way); a condition not computed yet blocks with reason `<Type>Unknown`.
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
# Longest API server message kept in a condition: enough for the field and the rule.
REFUSAL_MESSAGE_LIMIT = 400


@dataclass(frozen=True)
class RefusedWrite:
    """A write the API server refused for a model: which object, the HTTP status, and the API
    server's message."""

    what: str  # e.g. "StatefulSet ns/name", "status of ClassroomModel ns/name"
    status: int
    message: str

    def describe(self) -> str:
        message = " ".join(self.message.split())
        if len(message) > REFUSAL_MESSAGE_LIMIT:
            message = message[:REFUSAL_MESSAGE_LIMIT - 3] + "..."
        return f"{self.what}: HTTP {self.status}: {message}"


@dataclass(frozen=True)
class RolloutStatus:
    """The rollout's part of status: status.pools, status.streams, podsReady and podsWanted,
    the Pods and Streams summary columns, RolledOut and StreamsHealthy."""

    fields: dict[str, Any]
    conditions: tuple[Condition, ...]
    summary: dict[str, str]
    wake_after: float | None = None
    refused: tuple[RefusedWrite, ...] = ()  # the pool writes the API server refused

    @property
    def rolled_out(self) -> bool:
        return any(c.type == "RolledOut" and c.status == "True" for c in self.conditions)

    @property
    def serving(self) -> bool:
        """Whether some pod of the model is ready to serve."""
        return int(self.fields.get("podsReady") or 0) > 0


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


def _warned(records: Sequence[EngineRecord]) -> bool:
    return any(record.figures.get("warnings") for record in records)


def _warnings(records: Sequence[EngineRecord]) -> list[str]:
    """Each warning once, with the GPU classes it was raised for (a model's engines of several
    classes usually share the builder's words)."""
    classes: dict[str, list[str]] = {}
    for record in records:
        for warning in record.figures.get("warnings") or []:
            classes.setdefault(str(warning), []).append(record.gpu_class)
    return [f"{text} ({', '.join(sorted(gpus))})" for text, gpus in sorted(classes.items())]


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
                and r.reason not in ("Waiting", "Unschedulable")]
    unschedulable = [r for r in records if r.state == "Building" and r.reason == "Unschedulable"]
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
    elif records and len(ready) == len(records) and _warned(ready):
        validated = Condition("Validated", "True", "ThresholdsMetWithWarnings",
                              "every engine matches the fp32 ONNX reference within "
                              "spec.validation's thresholds, but the builder warns: "
                              + "; ".join(_warnings(ready)))
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
    if unschedulable:
        # The build waits for a node, often for a GPU the model's own pools hold; the rollout
        # gives one up after CLASSROOM_BUILD_UNSCHEDULABLE_SECONDS and says so in RolledOut.
        problems.append(("BuildUnschedulable", "; ".join(_describe(r) for r in unschedulable)))
    if view.incomplete:
        problems.append(("IncompleteGpuLabels",
                         f"nodes {_names(view.incomplete)} have a GPU product label but no "
                         "compute capability or driver version; check GPU Feature Discovery"))
    return [engines, validated, degraded_condition(problems)]


def degraded_condition(problems: Sequence[tuple[str, str]]) -> Condition:
    """Degraded from (reason, message) problems, the first giving the reason."""
    if problems:
        return Condition("Degraded", "True", problems[0][0],
                         "; ".join(message for _, message in problems))
    return Condition("Degraded", "False", "AsExpected", "nothing needs attention")


def _degraded_with(conditions: Sequence[Condition], refused: Sequence[RefusedWrite],
                   sink: Condition | None) -> list[Condition]:
    """The conditions with Degraded widened by refused writes and a failing sink."""
    extra: list[tuple[str, str]] = []
    if refused:
        extra.append(("WriteRefused", "the API server refused "
                      + "; ".join(r.describe() for r in refused)))
    if sink is not None and sink.status == "False":
        extra.append((sink.reason, sink.message))
    if not extra:
        return list(conditions)
    result = []
    for condition in conditions:
        if condition.type == "Degraded":
            problems = [(condition.reason, condition.message)] if condition.status == "True" \
                else []
            condition = degraded_condition(problems + extra)
        result.append(condition)
    return result


READY_NEEDS = ("Degraded", "EnginesReady", "RolledOut", "StreamsHealthy")


def ready_condition(conditions: Iterable[Condition]) -> Condition:
    """Ready from the other conditions (the module's docstring says exactly when)."""
    by_type = {c.type: c for c in conditions}
    rolled = by_type.get("RolledOut")
    nothing_to_serve = rolled is not None and rolled.status == "True" \
        and rolled.reason == "NoClassrooms"
    for kind in READY_NEEDS:
        condition = by_type.get(kind)
        if condition is None:
            return Condition("Ready", "False", f"{kind}Unknown",
                             f"{kind} is not known yet")
        wanted = "False" if kind == "Degraded" else "True"
        if condition.status == wanted:
            continue
        if kind == "StreamsHealthy" and nothing_to_serve and condition.reason == "NoStreams":
            continue
        return Condition("Ready", "False", condition.reason, f"{kind}: {condition.message}")
    if nothing_to_serve:
        return Condition("Ready", "True", "NoClassrooms",
                         "engines are built and validated; no classroom is selected, so no "
                         "pods run yet")
    streams = by_type["StreamsHealthy"].message
    return Condition("Ready", "True", "Serving", f"every pool is rolled out; {streams}")


def phase_of(records: Sequence[EngineRecord], spec_error: str | None,
             rolled_out: bool = True, *, troubled: bool = False, serving: bool = False) -> str:
    """Ready once every engine is ready and the pods serve with them; until the pods are
    rolled out the model is still Building. `troubled` (a refused write, a failing sink) makes
    it Degraded while some pod serves (`serving`), Failed while none does."""
    if spec_error is not None:
        return "Failed"
    states = [r.state for r in records]
    if troubled:
        return "Degraded" if serving else "Failed"
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
        ("Ready", "EnginesReady", "Validated", "RolledOut", "StreamsHealthy", "SinkHealthy",
         "Degraded"))}
    return sorted(by_type.values(), key=lambda c: (order.get(c["type"], 99), c["type"]))


def model_status(records: Sequence[EngineRecord], view: InventoryView, *,
                 previous: Mapping[str, Any], generation: int, spec_error: str | None,
                 now: datetime, serving: RolloutStatus | None = None,
                 refused: Sequence[RefusedWrite] = ()) -> dict[str, Any]:
    """The operator's part of status, ready to compare with and patch onto the live one.
    Without `serving` (a spec the rollout cannot use), its part of status stays as it was.
    `refused`: the writes for the model the API server refused (Degraded, WriteRefused)."""
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
    sink = next((c for c in computed if c.type == "SinkHealthy"), None)
    computed = _degraded_with(computed, refused, sink)
    computed.append(ready_condition(computed))
    troubled = bool(refused) or (sink is not None and sink.status == "False")
    return {
        "observedGeneration": generation,
        "phase": phase_of(records, spec_error, serving is None or serving.rolled_out,
                          troubled=troubled,
                          serving=serving is not None and serving.serving),
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

"""The RolledOut condition of a model's inference rollout (pure): True once every pool runs
its Ready pods and every classroom is served by its own pod alone; otherwise the first reason
and every problem in the message, each naming what it waits for.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from classroom_operator.conditions import Condition
from classroom_operator.rollout.assignment import Handover, Plan
from classroom_operator.rollout.classrooms import Selection
from classroom_operator.rollout.pod_reports import PodReport, PoolFacts
from classroom_operator.rollout.pool_views import ServingPod

# A new pod connects a room's cameras within seconds; a hand-over taking longer than this is
# named in RolledOut (the old pod keeps serving the room meanwhile, however long it takes).
HANDOVER_PATIENCE_SECONDS = 60.0
SHOWN = 3


def _names(items: Sequence[str]) -> str:
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {len(items) - SHOWN} more" if len(items) > SHOWN else "")


def _waiting_on(handover: Handover, reports: Mapping[str, PodReport | str]) -> str:
    """Why a hand-over is not done, as the new pod's report tells it."""
    pod = handover.target.name
    report = reports.get(pod)
    if not isinstance(report, PodReport):
        return f"pod {pod} {'has not answered' if report is None else report}"
    if handover.room not in report.classrooms:
        refused = f" (it refused the assignment: {report.assignment_error})" \
            if report.assignment_error else ""
        return f"pod {pod} has not taken it yet{refused}"
    states = {s.id: s for s in report.streams}
    details = []
    for stream_id in handover.waiting_for:
        stream = states.get(stream_id)
        state = "not reported" if stream is None else stream.state + (
            f": {stream.error}" if stream.error else "")
        details.append(f"{stream_id} {state}")
    return f"pod {pod}: {', '.join(details[:SHOWN])}"


def _handover_problems(handovers: Sequence[Handover], reports: Mapping[str, PodReport | str],
                       now: float) -> list[tuple[str, str]]:
    rooms = sorted({h.room for h in handovers})
    stalled = [h for h in handovers if now - h.since >= HANDOVER_PATIENCE_SECONDS]
    late = sorted({h.room for h in stalled})
    problems = []
    if stalled:
        shown = "; ".join(f"{h.room} ({_waiting_on(h, reports)})" for h in stalled[:SHOWN])
        more = f"; and {len(stalled) - SHOWN} more" if len(stalled) > SHOWN else ""
        problems.append(("HandOverStalled", f"{len(late)} classrooms are still served by their "
                         "previous pods as well: their new pods have not reported every stream "
                         f"Healthy within {HANDOVER_PATIENCE_SECONDS:g}s: {shown}{more}"))
    if len(late) < len(rooms):
        pending = [room for room in rooms if room not in late]
        problems.append(("HandingOver", f"{len(pending)} classrooms are served by their previous "
                         "and their new pods until the new pods report every stream Healthy: "
                         f"{_names(pending)}"))
    return problems


def rolled_out(facts: Sequence[PoolFacts], result: Plan, *, pools: Collection[str],
               holding: Collection[str], too_large: Sequence[str], selection: Selection,
               pods: Sequence[ServingPod], reports: Mapping[str, PodReport | str],
               now: float) -> Condition:
    """RolledOut for the model's pools (`facts`), the plan, the wanted pools of Ready engines
    and the old pools holding a class whose engine is not Ready yet."""
    problems: list[tuple[str, str]] = []
    if selection.rooms and not (pools or holding):
        problems.append(("WaitingForEngines", "no engine is ready for the model's GPU classes "
                         "yet; pods start once one is built and validated"))
    for name in too_large:
        problems.append(("AssignmentTooLarge", f"the assignment of pool {name} is over the 1 MiB "
                         "a ConfigMap holds; split the classrooms across more ClassroomModels"))
    for pool in facts:
        if pool.ready_replicas < pool.replicas:
            why = next((f"{pod.name}: {pod.waiting}" for pod in sorted(
                pods, key=lambda p: p.name) if pod.pool == pool.name and pod.waiting),
                "")
            problems.append(("PodsNotReady", f"pool {pool.name} ({pool.gpu_class}): "
                             f"{pool.ready_replicas}/{pool.replicas} pods ready"
                             + (f" ({why})" if why else "")))
    problems.extend(_handover_problems(result.handovers, reports, now))
    for name in sorted(holding):
        problems.append(("RollingOver", f"pool {name} keeps serving with its previous engine "
                         "until the new engine for its GPUs is ready"))
    if result.waiting:
        problems.append(("RollingOver", f"{len(result.waiting)} classrooms stay on their pods "
                         f"until their new pods are Ready: {_names(list(result.waiting))}"))
    for pool in facts:
        if pool.name not in pools and pool.name not in holding:
            problems.append(("RollingOver", f"pool {pool.name} is removed once its classrooms "
                             "are served by their new pods" if selection.rooms else
                             f"pool {pool.name} is removed: no classroom is left to serve"))
    if result.unassigned:
        problems.append(("Unassigned", f"{len(result.unassigned)} classrooms have no pod: "
                         f"{_names(list(result.unassigned))}"))
    notes = []
    over = list(result.over_capacity)
    if over:
        notes.append(f"pools {_names(over)} need more pods than spec.serving.replicas.max "
                     "or their GPUs allow; their pods run above the engine's measured capacity")
    if selection.problems:
        notes.append(f"Classrooms set aside: {'; '.join(selection.problems[:SHOWN])}")
    tail = "".join(f". {note}" for note in notes)
    if problems:
        return Condition("RolledOut", "False", problems[0][0],
                         "; ".join(message for _, message in problems) + tail)
    if not selection.rooms:
        return Condition("RolledOut", "True", "NoClassrooms",
                         "no classroom to serve, so no pods run: list spec.classrooms, or label "
                         "Classrooms for spec.classroomSelector" + tail)
    running = sum(pool.replicas for pool in facts)
    return Condition("RolledOut", "True", "OverCapacity" if over else "RolledOut",
                     f"{running} pods ready in {len(facts)} pools serve {len(selection.rooms)} "
                     "classrooms" + tail)


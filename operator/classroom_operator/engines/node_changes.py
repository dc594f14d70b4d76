"""Builds started straight from a node change, once per distinct engine spec.

After a driver upgrade on fifty nodes, a thousand ClassroomModels need new engines, but only as
many distinct ones as there are distinct engine specs times new GPU classes. Waiting for every
model's engine loop to notice would make the first build wait behind a thousand status writes;
instead the node handler groups the models by (placement, engine spec), works out each group's
engines once, and starts all the builds no one has seen yet side by side, before any model is
woken. A burst of node events is served by one or two such passes (`Coalesced`), not one each.
The engine loops then reconcile the models (status, retries, releases) as before; a Job they
find already there is simply adopted.

Which models are woken: all of a placement's when what their engines depend on changed (its GPU
classes, nodes mid-upgrade or half-labelled); otherwise only those serving pools, whose size and
nodes may follow. A busy cluster's nodes go unreachable and back by the dozen (their taints come
and go); waking a thousand models for each would keep the operator busy with nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

import kopf

from classroom_operator.controller import ModelKey, OperatorState
from classroom_operator.engines.build_jobs import EngineNeed
from classroom_operator.engines.build_results import JobView
from classroom_operator.engines.catalogue import CatalogueEntry
from classroom_operator.engines.inventory import (
    InventoryView,
    NodeGpu,
    Outlook,
    outlook_of,
    view_for,
)
from classroom_operator.engines.planning import new_engines
from classroom_operator.reconcile.model import Index, all_of, start_build, world_of
from classroom_operator.rollout.pools import model_label
from classroom_operator.spec import ModelSpec, Placement


@dataclass(frozen=True)
class SpecGroup:
    """One model standing for all models of its (placement, engine spec): kept in an index."""

    model: ModelKey
    uid: str
    spec: ModelSpec


def model_reference(group: SpecGroup) -> kopf.Body:
    """Enough of the model for an event about it."""
    raw = {"apiVersion": "classroom-operator.io/v1alpha1", "kind": "ClassroomModel",
           "metadata": {"namespace": group.model[0], "name": group.model[1], "uid": group.uid}}
    return kopf.Body(cast(kopf.RawBody, raw))


async def start_new_builds(state: OperatorState, placements: Iterable[Placement], *,
                           groups: Index[SpecGroup], nodes: Index[NodeGpu],
                           catalogue: Index[CatalogueEntry], jobs: Index[JobView],
                           users: Index[ModelKey]) -> dict[Placement, bool]:
    """Start the builds that `placements` now need and no one has seen. Returns, per placement,
    whether its outlook changed since the last pass (its models must all look again)."""
    wanted = set(placements)
    all_nodes = [node for store in nodes.values() for node in store]
    world = world_of(state, catalogue, jobs, {})
    recorded = {fingerprint for fingerprint, models in users.items() if models}
    views = {placement: view_for(all_nodes, placement) for placement in wanted}
    # Only GPU classes that appeared since the last pass can need engines no one has seen: a node
    # going NotReady and back, or one more node of a known class, costs no plan at all.
    before = {placement: state.outlooks.get(placement) for placement in wanted}
    fresh = {placement for placement, view in views.items()
             if _gained_classes(view, before[placement])}
    # Two groups on overlapping placements may need the same engine: one Job each.
    builds: dict[str, tuple[EngineNeed, SpecGroup]] = {}
    for (placement, _), members in groups.items():
        group = next(iter(members), None)
        if group is None or placement not in fresh:
            continue
        for need in new_engines(group.spec, views[placement], state.settings, world, recorded):
            builds.setdefault(need.fingerprint, (need, group))
    await all_of([
        start_build(state, need, group.spec, attempt=1, requested_by=group.model,
                    about=model_reference(group))
        for need, group in builds.values()])
    changed = {}
    for placement, view in views.items():
        state.outlooks[placement] = outlook_of(view)
        changed[placement] = state.outlooks[placement] != before[placement]
    return changed


def _gained_classes(view: InventoryView, before: Outlook | None) -> bool:
    return before is None or not set(view.classes) <= before.classes


def models_to_wake(changed: Mapping[Placement, bool], *, placements: Index[ModelKey],
                   pools: Index[Any]) -> list[ModelKey]:
    """Every model of a placement whose outlook changed; of the others, those with pools."""
    woken = []
    for placement, outlook_changed in changed.items():
        for key in placements.get(placement, ()):
            if outlook_changed or any(True for _ in pools.get((key[0], model_label(key[1])), ())):
                woken.append(key)
    return woken

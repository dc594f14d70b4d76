"""Builds started straight from a node change, once per distinct engine spec.

After a driver upgrade on fifty nodes, a thousand ClassroomModels need new engines, but only as
many distinct ones as there are distinct engine specs times new GPU classes. Waiting for every
model's engine loop to notice would make the first build wait behind a thousand status writes;
instead the node handler groups the models by (placement, engine spec), works out each group's
engines once, and starts all the builds no one has seen yet side by side, before any model is
woken. A burst of node events is served by one or two such passes (`Coalesced`), not one each.
This module decides (pure); reconcile/node_changes.py starts the builds. The engine loops then
reconcile the models (status, retries, releases) as before; a Job they
find already there is simply adopted.

Which models are woken: all of a placement's when what their engines depend on changed (its GPU
classes, nodes mid-upgrade or half-labelled); otherwise only those serving pools, whose size and
nodes may follow. A busy cluster's nodes go unreachable and back by the dozen (their taints come
and go); waking a thousand models for each would keep the operator busy with nothing to do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from classroom_operator.engines.build_jobs import EngineNeed
from classroom_operator.engines.inventory import InventoryView, Outlook
from classroom_operator.engines.planning import World, new_engines
from classroom_operator.names import API_VERSION, MODEL_KIND, ModelKey, model_label
from classroom_operator.settings import Settings
from classroom_operator.spec.model import ModelSpec, Placement


@dataclass(frozen=True)
class SpecGroup:
    """One model standing for all models of its (placement, engine spec): kept in an index."""

    model: ModelKey
    uid: str
    spec: ModelSpec


def model_reference(group: SpecGroup) -> dict[str, Any]:
    """Enough of the model for an event about it."""
    return {"apiVersion": API_VERSION, "kind": MODEL_KIND,
            "metadata": {"namespace": group.model[0], "name": group.model[1], "uid": group.uid}}


def gained_classes(view: InventoryView, before: Outlook | None) -> bool:
    """Whether the placement shows a GPU class it did not show at its last pass."""
    return before is None or not set(view.classes) <= before.classes


def builds_to_start(groups: Mapping[Any, Iterable[SpecGroup]],
                    views: Mapping[Placement, InventoryView],
                    before: Mapping[Placement, Outlook | None], settings: Settings, world: World,
                    recorded: set[str]) -> dict[str, tuple[EngineNeed, SpecGroup]]:
    """The engines no one has seen that the groups of `views`' placements now need, by
    fingerprint, each with one group that needs it."""
    # Only GPU classes that appeared since the last pass can need engines no one has seen: a node
    # going NotReady and back, or one more node of a known class, costs no plan at all.
    fresh = {placement for placement, view in views.items()
             if gained_classes(view, before.get(placement))}
    # Two groups on overlapping placements may need the same engine: one Job each.
    builds: dict[str, tuple[EngineNeed, SpecGroup]] = {}
    for (placement, _), members in groups.items():
        group = next(iter(members), None)
        if group is None or placement not in fresh:
            continue
        for need in new_engines(group.spec, views[placement], settings, world, recorded):
            builds.setdefault(need.fingerprint, (need, group))
    return builds


def models_to_wake(changed: Mapping[Placement, bool], *,
                   placements: Mapping[Placement, Iterable[ModelKey]],
                   pools: Mapping[Any, Iterable[Any]]) -> list[ModelKey]:
    """Every model of a placement whose outlook changed; of the others, those with pools."""
    woken = []
    for placement, outlook_changed in changed.items():
        if not outlook_changed and not pools:  # no pool anywhere: nobody to wake
            continue
        for key in placements.get(placement, ()):
            if outlook_changed or any(True for _ in pools.get((key[0], model_label(key[1])), ())):
                woken.append(key)
    return woken

"""Builds started straight from a node change, once per distinct engine spec, before any model
is woken (engines/node_changes.py says why and decides which)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import cast

import kopf

from classroom_operator.controller import OperatorState
from classroom_operator.engines.inventory import outlook_of, view_for
from classroom_operator.engines.node_changes import (
    builds_to_start,
    gained_classes,
    model_reference,
)
from classroom_operator.indexes import EngineIndexes
from classroom_operator.reconcile.builds import all_of, start_build, world_of
from classroom_operator.spec import Placement


async def start_new_builds(state: OperatorState, placements: Iterable[Placement],
                           indexes: EngineIndexes) -> dict[Placement, bool]:
    """Start the builds that `placements` now need and no one has seen. Returns, per placement,
    whether its outlook changed since the last pass (its models must all look again)."""
    wanted = set(placements)
    all_nodes = [node for store in indexes.nodes.values() for node in store]
    views = {placement: view_for(all_nodes, placement) for placement in wanted}
    before = {placement: state.outlooks.get(placement) for placement in wanted}
    builds = {}
    # Nodes going unreachable and back under load make most passes; only a placement that
    # gained a GPU class can need a new engine, and only then are the world and records read.
    if any(gained_classes(view, before[placement]) for placement, view in views.items()):
        world = world_of(state, indexes.catalogue, indexes.jobs, {})
        recorded = {fingerprint for fingerprint, models in indexes.users.items() if models}
        builds = builds_to_start(indexes.specs, views, before, state.settings, world, recorded)
    await all_of([
        start_build(state, need, group.spec, attempt=1, requested_by=group.model,
                    about=kopf.Body(cast(kopf.RawBody, model_reference(group))))
        for need, group in builds.values()])
    changed = {}
    for placement, view in views.items():
        state.outlooks[placement] = outlook_of(view)
        changed[placement] = state.outlooks[placement] != before[placement]
    return changed

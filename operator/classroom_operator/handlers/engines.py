"""kopf handlers: thin, typed, filtered in their decorators.

Indexes hold every lookup (nodes, build Jobs and pods by fingerprint, models by placement and by
the engines they use, the catalogue). Each ClassroomModel has one engine loop (a daemon) that
reconciles when woken: by a spec change, a node change that matters to its placement, or a build
Job or pod of one of its engines; and once a resync period in any case. The engine loops also
collect unused engines: a timer on the catalogue would put kopf's finalizer on that ConfigMap and
hang its namespace's deletion whenever the operator is gone, and a plain background task would act
on non-leader replicas too, whose paused indexes could call an engine in use unused. Handlers are
registered by `register`, into a registry the caller owns, so importing this module changes
nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

from classroom_operator.controller import OperatorState, run_model_loop
from classroom_operator.engines.build_results import JobView, PodView, job_view, pod_view
from classroom_operator.engines.catalogue import (
    CatalogueEntry,
    catalogue_configmap,
    parse_catalogue,
)
from classroom_operator.engines.inventory import NodeGpu, admits, node_from_object
from classroom_operator.engines.node_changes import SpecGroup, models_to_wake
from classroom_operator.engines.planning import engine_spec_key, previous_records
from classroom_operator.handlers.rollout import register_rollout
from classroom_operator.indexes import EngineIndexes, Index, RolloutIndexes
from classroom_operator.names import (
    BUILD_COMPONENT,
    CATALOGUE_COMPONENT,
    COMPONENT_LABEL,
    FINGERPRINT_LABEL,
    GC_COMPONENT,
    MODELS,
    ModelKey,
)
from classroom_operator.reconcile.builds import collect_unused, release_engines
from classroom_operator.reconcile.model import reconcile_model
from classroom_operator.reconcile.node_changes import start_new_builds
from classroom_operator.settings import Settings
from classroom_operator.spec import Placement, SpecError, parse_model, parse_placement, parse_spec

BUILD: dict[str, Any] = {COMPONENT_LABEL: BUILD_COMPONENT, FINGERPRINT_LABEL: kopf.PRESENT}
CATALOGUE: dict[str, Any] = {COMPONENT_LABEL: CATALOGUE_COMPONENT}


def _state(memo: kopf.Memo) -> OperatorState:
    state: OperatorState = memo.state
    return state


# -- indexes ---------------------------------------------------------------------------------

async def gpu_nodes(name: str, labels: kopf.Labels, spec: kopf.Spec, status: kopf.Status,
              **_: Any) -> dict[str, NodeGpu]:
    return {name: node_from_object(name, labels, spec, status)}


async def model_placements(namespace: str | None, name: str, spec: kopf.Spec,
                     **_: Any) -> dict[Placement, ModelKey]:
    try:
        placement = parse_placement(spec.get("serving") or {})
    except SpecError:
        return {}
    return {placement: (str(namespace), name)}


async def engine_specs(namespace: str | None, name: str, uid: str, spec: kopf.Spec,
                       **_: Any) -> dict[tuple[Placement, str], SpecGroup]:
    try:
        parsed = parse_spec(spec)
    except SpecError:
        return {}
    group = SpecGroup(model=(str(namespace), name), uid=uid, spec=parsed)
    return {(parsed.serving.placement, engine_spec_key(parsed)): group}


async def engine_users(namespace: str | None, name: str, status: kopf.Status,
                 **_: Any) -> dict[str, ModelKey]:
    return {fingerprint: (str(namespace), name) for fingerprint in previous_records(status)}


async def build_jobs(meta: kopf.Meta, status: kopf.Status, **_: Any) -> dict[str, JobView]:
    view = job_view(meta, status)
    return {view.fingerprint: view}


async def build_pods(meta: kopf.Meta, status: kopf.Status, labels: kopf.Labels,
               **_: Any) -> dict[str, PodView]:
    return {labels[FINGERPRINT_LABEL]: pod_view(meta, status)}


async def serving_pods(name: str, labels: kopf.Labels, **_: Any) -> dict[str, str]:
    return {labels[FINGERPRINT_LABEL]: name}


async def engine_catalogue(body: kopf.Body, **_: Any) -> dict[str, CatalogueEntry]:
    return parse_catalogue(body.get("data") or {})


# -- wake-ups ------------------------------------------------------------------------------

async def node_changed(name: str, type: str | None, labels: kopf.Labels, spec: kopf.Spec,
                       status: kopf.Status, memo: kopf.Memo, **kwargs: Any) -> None:
    engines = EngineIndexes.of(kwargs)
    state = _state(memo)
    before = state.nodes.get(name)
    after = None if type == "DELETED" else node_from_object(name, labels, spec, status)
    if before == after:
        return
    if after is None:
        state.nodes.pop(name, None)
    else:
        state.nodes[name] = after
    affected = [placement for placement in engines.placements
                if any(node is not None and admits(node, placement) for node in (before, after))]

    async def build_then_wake(placements: set[Placement]) -> None:
        # Builds first, for every model at once; the models' status catches up after.
        with state.metrics.node_pass_seconds.time():
            changed = await start_new_builds(state, placements, engines)
        state.wakeups.wake(models_to_wake(changed, placements=engines.placements,
                                          pools=RolloutIndexes.of(kwargs).pools))

    await state.node_passes.run(affected, build_then_wake)


async def engine_object_changed(labels: kopf.Labels, memo: kopf.Memo, engine_users: Index[ModelKey],
                          **_: Any) -> None:
    _state(memo).wakeups.wake(engine_users.get(labels[FINGERPRINT_LABEL], ()))


async def check_spec(spec: kopf.Spec, namespace: str | None, name: str, memo: kopf.Memo,
                     **_: Any) -> None:
    """Anything the CRD could not refuse fails here for good (the engine loop sets the
    condition); a later spec change runs it again."""
    _state(memo).wakeups.wake([(str(namespace), name)])
    try:
        parse_model(spec)
    except SpecError as error:
        raise kopf.PermanentError(str(error)) from error


# -- the engine loop -------------------------------------------------------------------------

async def engine_loop(namespace: str | None, name: str, body: kopf.Body, memo: kopf.Memo,
                      stopped: kopf.DaemonStopped, logger: kopf.Logger, **kwargs: Any) -> None:
    state = _state(memo)
    key = (str(namespace), name)
    engines, rollout = EngineIndexes.of(kwargs), RolloutIndexes.of(kwargs)

    async def one_pass() -> float | None:
        delay = await reconcile_model(state, key, body, engines=engines, rollout=rollout,
                                      logger=logger)
        await collect_unused(state, engines)
        return delay

    await run_model_loop(state, key, stopped, logger, one_pass)


async def release_on_delete(namespace: str | None, name: str, body: kopf.Body, status: kopf.Status,
                            memo: kopf.Memo, **kwargs: Any) -> None:
    """Deleting a model stops the builds only it needed and releases the engines only it used."""
    await release_engines(_state(memo), previous_records(status), key=(str(namespace), name),
                          indexes=EngineIndexes.of(kwargs), body=body)


# -- registration ----------------------------------------------------------------------------

def _in_namespace(wanted: str) -> Any:
    def check(body: kopf.Body, **_: Any) -> bool:
        return body.metadata.namespace == wanted
    return check


def _serving(labels: kopf.Labels, **_: Any) -> bool:
    return labels.get(COMPONENT_LABEL) not in (BUILD_COMPONENT, GC_COMPONENT)


def _with_indexes(handler: Any) -> Any:
    """kopf passes indexes as extra keyword arguments, which its callback protocols do not
    declare; handlers take them whole and read them through indexes.py's bundles."""
    return handler


def register(registry: kopf.OperatorRegistry, settings: Settings) -> None:
    """Register every handler; `settings` says which namespace holds the Jobs and catalogue."""
    ours = _in_namespace(settings.namespace)
    kopf.index("nodes", registry=registry)(gpu_nodes)
    kopf.index(*MODELS, registry=registry)(model_placements)
    kopf.index(*MODELS, registry=registry)(engine_users)
    kopf.index(*MODELS, registry=registry)(engine_specs)
    kopf.index("batch/v1", "jobs", labels=BUILD, when=ours, registry=registry)(build_jobs)
    kopf.index("v1", "pods", labels=BUILD, when=ours, registry=registry)(build_pods)
    kopf.index("v1", "pods", labels={FINGERPRINT_LABEL: kopf.PRESENT}, when=_serving,
               registry=registry)(serving_pods)
    kopf.index("v1", "configmaps", labels=CATALOGUE, when=ours,
               registry=registry)(engine_catalogue)

    kopf.on.event("nodes", registry=registry)(_with_indexes(node_changed))
    kopf.on.event("batch/v1", "jobs", labels=BUILD, when=ours, registry=registry,
                  id="build_job_changed")(_with_indexes(engine_object_changed))
    kopf.on.event("v1", "pods", labels=BUILD, when=ours, registry=registry,
                  id="build_pod_changed")(_with_indexes(engine_object_changed))

    for decorator in (kopf.on.create, kopf.on.update, kopf.on.resume):
        decorator(*MODELS, field="spec", registry=registry, id="check_spec")(check_spec)
    kopf.daemon(*MODELS, registry=registry, cancellation_timeout=10.0)(_with_indexes(engine_loop))
    kopf.on.delete(*MODELS, registry=registry)(_with_indexes(release_on_delete))
    register_rollout(registry)


async def ensure_catalogue(state: OperatorState) -> Mapping[str, Any]:
    stored = await state.kube.ensure_configmap(catalogue_configmap(state.settings.namespace))
    state.catalogue_uid = stored["metadata"]["uid"]
    return stored

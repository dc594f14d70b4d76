"""`classroom-operator run`: the kopf operator with the settings from the chart's environment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import copy
import logging
import secrets
import sys
from typing import Any, cast

import kopf

from classroom_operator.controller import OperatorState, Wakeups
from classroom_operator.handlers.engines import ensure_catalogue, register
from classroom_operator.handlers.rollout import INFERENCE_SELECTOR
from classroom_operator.kube import Kube, load_credentials
from classroom_operator.leadership import follow_leadership
from classroom_operator.metrics import Metrics
from classroom_operator.names import (
    BUILD_COMPONENT,
    CATALOGUE_COMPONENT,
    COMPONENT_LABEL,
    FINGERPRINT_LABEL,
    GROUP,
    INFERENCE_COMPONENT,
)
from classroom_operator.settings import Settings, SettingsError, load_settings

HEALTH_PORT = 8080
METRICS_PORT = 8081


class LegacyAnnotationDiffBase(kopf.AnnotationsDiffBaseStorage):
    """The spec last handled as operators before status.kopf kept it: read when status has none
    yet, and removed on the next store instead of written."""

    def store(self, *, body: kopf.Body, patch: kopf.Patch, essence: Any) -> None:
        for key in self.make_keys(self.key, body=body):
            if key in body.metadata.annotations:
                patch.metadata.annotations[key] = None


class SpecDiffBase(kopf.MultiDiffBaseStorage):
    """kopf builds an object's essence on every watch event of every kind it watches: a deep copy
    of the whole body, its status and most of its metadata then dropped, and one more deep copy
    for each storage, which drops its own keys. For a thousand models (and the nodes, Jobs and
    pods) those copies were the largest single cost of an event. Here only the parts the essence
    keeps are copied, once; the storages' keys are dropped from that copy. The essence is the
    same as kopf's own (tests/unit/operator_runtime/test_kopf_storage.py compares them)."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> Any:
        heads = {field[0] if isinstance(field, tuple | list) else str(field).split(".", 1)[0]
                 for field in extra_fields or ()}
        lean: dict[str, Any] = {key: value for key, value in body.items()
                                if key not in ("metadata", "status") or key in heads}
        if "metadata" not in heads:
            lean["metadata"] = {key: value for key, value in body.get("metadata", {}).items()
                                if key in ("labels", "annotations")}
        lean_body = kopf.Body(cast(kopf.RawBody, lean))
        essence = kopf.DiffBaseStorage.build(self, body=lean_body, extra_fields=extra_fields)
        for storage in self.storages:
            if isinstance(storage, kopf.StatusDiffBaseStorage):
                _remove(essence, storage.field)
            elif isinstance(storage, kopf.AnnotationsDiffBaseStorage):
                keys = storage.make_keys(storage.key, body=kopf.Body(essence))
                storage.remove_annotations(essence, set(keys))
                storage.remove_empty_stanzas(essence)
            else:  # a storage of another kind: its own build, copy and all
                essence = storage.build(body=kopf.Body(essence), extra_fields=extra_fields)
        return essence


class StatusProgress(kopf.MultiProgressStorage):
    """Handler progress in status.kopf, with the older annotations read and purged. kopf clears
    the progress from both essences it compares on every event, each storage deep-copying them
    in turn; here they are copied once and each storage's keys dropped from that copy."""

    def clear(self, *, essence: Any) -> Any:
        essence = copy.deepcopy(essence)
        for storage in self.storages:
            if isinstance(storage, kopf.StatusProgressStorage):
                _remove(essence, storage.field)
                storage.remove_empty_stanzas(essence)
            elif isinstance(storage, kopf.AnnotationsProgressStorage):
                annotations = essence.get("metadata", {}).get("annotations", {})
                storage.remove_annotations(essence, {
                    key for key in annotations
                    if storage.prefix and key.startswith(f"{storage.prefix}/")})
                storage.remove_empty_stanzas(essence)
            else:  # a storage of another kind: its own clear, copy and all
                essence = storage.clear(essence=essence)
        return essence


def _remove(essence: Any, path: tuple[str, ...]) -> None:
    """Remove a field (a path of keys) where it is there, and the parents it leaves empty, as
    kopf does."""
    head, *rest = path
    if not rest:
        essence.pop(head, None)
        return
    child = essence.get(head)
    if isinstance(child, dict):
        _remove(child, tuple(rest))
        if child == {}:
            del essence[head]


class LegacyAnnotationProgress(kopf.AnnotationsProgressStorage):
    """Handler progress as operators kept it in annotations before status.kopf: read while a
    model still has it, purged, never written (nor kopf's marker annotation with it)."""

    def store(self, **_: Any) -> None:
        pass

    def touch(self, **_: Any) -> None:
        pass


def progress_storage() -> kopf.ProgressStorage:
    """Handler progress in status.kopf, beside the spec last handled: a model's first handling
    is then one status patch, where annotations cost a patch of the object as well (and a watch
    event each, a thousand at once when a thousand models are applied)."""
    return StatusProgress([
        kopf.StatusProgressStorage(field="status.kopf.progress", touch_field="status.kopf.dummy"),
        LegacyAnnotationProgress(prefix=GROUP),
    ])


def diffbase_storage() -> kopf.DiffBaseStorage:
    """The spec last handled, in status.kopf rather than an annotation: annotations hold 256 KiB
    in all, and a spec near the CRD's caps (~140 KB) plus the copy a client-side `kubectl apply`
    keeps in its own annotation would not fit, leaving the model impossible to delete."""
    return SpecDiffBase([
        kopf.StatusDiffBaseStorage(field="status.kopf.last-handled-configuration"),
        # read-only in effect: models last handled by an operator that kept it there
        LegacyAnnotationDiffBase(prefix=GROUP),
    ])


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger,
                  **_: Any) -> None:
    config: Settings = memo.config
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = progress_storage()
    settings.persistence.diffbase_storage = diffbase_storage()
    # Only warnings and the operator's own events become Kubernetes events: a thousand models
    # must not post "handler succeeded" each.
    settings.posting.level = logging.WARNING
    settings.posting.reporting_component = "classroom-operator"
    settings.peering.mandatory = config.peering is not None
    # A dead leader's record expires after this; the standby then takes over (kopf: 60 s).
    settings.peering.lifetime = 20
    settings.peering.clusterwide = True
    # Server-side filters: the operator watches only its own Jobs, pods and catalogue, not
    # every pod and ConfigMap of the cluster.
    settings.watching.label_selectors["batch/v1", "jobs"] = f"{COMPONENT_LABEL}={BUILD_COMPONENT}"
    settings.watching.label_selectors["v1", "pods"] = FINGERPRINT_LABEL
    settings.watching.label_selectors["v1", "configmaps"] = (
        f"{COMPONENT_LABEL} in ({CATALOGUE_COMPONENT},{INFERENCE_COMPONENT})")
    settings.watching.label_selectors["apps/v1", "statefulsets"] = INFERENCE_SELECTOR
    metrics = Metrics()
    state = OperatorState(settings=config, kube=Kube(load_credentials(), metrics),
                          metrics=metrics, wakeups=Wakeups(metrics))
    memo.state = state
    metrics.serve(config.pod_ip, METRICS_PORT)
    if config.peering is None:
        metrics.set_leader(True)
    else:
        memo.leadership = asyncio.create_task(follow_leadership(
            state.kube.get, metrics, peering=config.peering,
            priority=settings.peering.priority, period=settings.peering.lifetime / 4))
    await ensure_catalogue(state)
    logger.info(f"classroom-operator started in {config.namespace}, "
                f"peering {config.peering or 'standalone'}")


async def cleanup(memo: kopf.Memo, **_: Any) -> None:
    leadership: asyncio.Task[None] | None = getattr(memo, "leadership", None)
    if leadership is not None:
        leadership.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await leadership
    state: OperatorState | None = getattr(memo, "state", None)
    if state is not None:
        await state.kube.close()
        await state.pods.close()


def build_registry(config: Settings) -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()
    # A registry of our own starts without kopf's default login: use the same loaders as kube.py.
    kopf.on.login(registry=registry)(kopf.login_via_client)
    kopf.on.startup(registry=registry)(startup)
    kopf.on.cleanup(registry=registry)(cleanup)
    register(registry, config)
    return registry


def parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classroom-operator",
        description="Keep classroom analytics engines built, validated and served per GPU class.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run_command = commands.add_parser(
        "run", help="run the operator (settings from CLASSROOM_* environment variables)")
    run_command.add_argument("--verbose", action="store_true", help="log at debug level")
    from classroom_operator.classview.main import add_arguments
    add_arguments(commands.add_parser(
        "classview", help="serve the class view, the live page for teachers (docs/class-view.md)"))
    return parser


def run(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.command == "classview":
        from classroom_operator.classview.main import run as run_classview
        return run_classview(args)
    try:
        config = load_settings()
    except SettingsError as error:
        print(f"classroom-operator: {error}", file=sys.stderr)
        return 2
    kopf.configure(verbose=args.verbose, log_format=kopf.LogFormat.JSON, log_refkey="object")
    if not args.verbose:
        # kopf logs every handler run per object at info; at a thousand models that is noise.
        logging.getLogger("kopf.objects").setLevel(logging.WARNING)
    kopf.run(
        registry=build_registry(config),
        clusterwide=True,
        standalone=config.peering is None,
        peering_name=config.peering,
        # kopf pauses every replica when peers share a priority; a random one per replica makes
        # exactly one (the highest) the leader, and the next takes over when its lease expires.
        priority=secrets.randbelow(2**31) if config.peering else 0,
        liveness_endpoint=f"http://{config.pod_ip}:{HEALTH_PORT}/healthz",
        memo=kopf.Memo(config=config),
    )
    return 0

"""`classroom-operator run`: the kopf operator with the settings from the chart's environment."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import secrets
import sys
from typing import Any

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


async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, logger: kopf.Logger,
                  **_: Any) -> None:
    config: Settings = memo.config
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    settings.persistence.progress_storage = kopf.SmartProgressStorage(prefix=GROUP)
    # The spec last handled goes into status.kopf, not an annotation: annotations hold 256 KiB in
    # all, and a spec near the CRD's caps (~140 KB) plus the copy a client-side `kubectl apply`
    # keeps in its own annotation would not fit, leaving the model impossible to delete.
    settings.persistence.diffbase_storage = kopf.MultiDiffBaseStorage([
        kopf.StatusDiffBaseStorage(field="status.kopf.last-handled-configuration"),
        # read-only in effect: models last handled by an operator that kept it there
        LegacyAnnotationDiffBase(prefix=GROUP),
    ])
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

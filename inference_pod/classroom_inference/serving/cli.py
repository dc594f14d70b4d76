"""`classroom-inference serve`: the inference pod (docs/contracts.md, "The inference pod").

Exit codes: 0 after a clean drain; 2 when the process cannot run as configured (missing secret,
no engine, unwritable spool: fix the arguments or mounts); 1 for anything else.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

from classroom_inference.runners.base import BackendUnavailable, RunnerError
from classroom_inference.serving.app import create_app
from classroom_inference.serving.errors import ConfigurationError
from classroom_inference.serving.listener import listen
from classroom_inference.serving.logs import access_log
from classroom_inference.serving.logs import configure as configure_logs
from classroom_inference.serving.pipeline import Pod, PodSettings
from classroom_inference.serving.policy import EMOTION_CHOICES, InferencePolicy
from classroom_inference.serving.pseudonym import SECRET_ENV, SecretInvalid, check_secret
from classroom_inference.serving.signing import (
    SIGNING_KEY_ENV,
    SigningKeyInvalid,
    check_signing_key,
)
from classroom_inference.serving.spool import SpoolUnavailable

log = logging.getLogger("classroom_inference.serve")

EXIT_CONFIGURATION = 2
DEFAULT_SPOOL_DIR = Path("/var/spool/classroom")


def register(commands: Any) -> None:
    parser = commands.add_parser(
        "serve",
        help="serve an engine to the classrooms of this pod's assignment",
        description="Ingest the assigned classroom streams, batch face crops through the "
        "engine, and send pseudonymous labels to the sink.",
    )
    parser.add_argument("--store", type=Path, help="the engine store (with --fingerprint)")
    parser.add_argument("--fingerprint", help="the engine to serve: <store>/<fingerprint>/")
    parser.add_argument("--engine-dir", type=Path,
                        help="a standalone engine folder (meta.json + engine), instead of "
                        "--store/--fingerprint")
    parser.add_argument("--backend", choices=["tensorrt", "onnxruntime-cuda", "onnxruntime-cpu",
                                              "copy-only"],
                        help="run the engine on this backend instead of meta.json's")
    parser.add_argument("--assignment", type=Path, required=True,
                        help="the assignment file (mounted from the operator's ConfigMap)")
    parser.add_argument("--stream-credentials", type=Path,
                        help="camera credentials, {\"<stream id>\": {\"username\", "
                        "\"password\"}} (mounted from a Secret; followed like the assignment)")
    parser.add_argument("--host", default="0.0.0.0", help="address to bind (default 0.0.0.0)")
    parser.add_argument("--port", type=int, default=8080, help="port to bind (default 8080)")
    parser.add_argument("--spool-dir", type=Path,
                        default=Path(os.environ.get("CLASSROOM_SPOOL_DIR", DEFAULT_SPOOL_DIR)),
                        help="where undelivered events wait for the webhook (default "
                        f"$CLASSROOM_SPOOL_DIR or {DEFAULT_SPOOL_DIR})")
    parser.add_argument("--spool-max-mib", type=int, default=256,
                        help="the spool's bound; when full, new events are refused and counted")
    parser.add_argument("--spool-retention-seconds", type=float,
                        default=_float_env("CLASSROOM_SPOOL_RETENTION_SECONDS", 86400.0),
                        help="longest an event waits in the spool: older ones are deleted, "
                        "delivered or not, and reported as events-lost (default "
                        "$CLASSROOM_SPOOL_RETENTION_SECONDS or 86400, one day)")
    parser.add_argument("--max-delay-ms", type=float, default=10.0,
                        help="longest a crop waits for its batch to fill (default 10)")
    parser.add_argument("--drain-seconds", type=float, default=20.0,
                        help="on SIGTERM, how long to try delivering the spool (default 20)")
    parser.add_argument("--emotion", choices=EMOTION_CHOICES, default="enabled",
                        help="disabled: drop the engine's emotion head right after inference, "
                        "as a policy forbidding emotion recognition requires (default enabled)")
    parser.add_argument("--log-level", default="INFO")
    parser.set_defaults(run=run)


def _float_env(name: str, default: float) -> float:
    """A number from the environment; a malformed one is turned into NaN and refused, naming
    the variable, by settings_from."""
    text = os.environ.get(name)
    if text is None:
        return default
    try:
        return float(text)
    except ValueError:
        return float("nan")


def api_token(token: str | None) -> str | None:
    """The bearer token /v1/status and /v1/events require; unset leaves them open."""
    if token is not None and token and len(token) < 16:
        raise ConfigurationError("CLASSROOM_POD_API_TOKEN is shorter than 16 characters; give a "
                                 "random token (the operator's Secret classroom-pod-api-token) "
                                 "or leave it unset")
    return token or None


def settings_from(args: argparse.Namespace, env: dict[str, str]) -> PodSettings:
    """Arguments and environment, checked; ConfigurationError names what to fix."""
    if args.engine_dir is not None:
        engine_dir = args.engine_dir
    elif args.store is not None and args.fingerprint:
        engine_dir = args.store / args.fingerprint
    else:
        raise ConfigurationError("give --store and --fingerprint, or --engine-dir")
    try:
        secret = check_secret(env.get(SECRET_ENV)).decode()
    except SecretInvalid as exc:
        raise ConfigurationError(str(exc)) from None
    try:
        signing_key = check_signing_key(env.get(SIGNING_KEY_ENV))
    except SigningKeyInvalid as exc:
        raise ConfigurationError(str(exc)) from None
    if not 0 < args.port < 65536:
        raise ConfigurationError(f"--port {args.port} is not a TCP port (1-65535)")
    if args.spool_max_mib < 4:
        raise ConfigurationError(f"--spool-max-mib {args.spool_max_mib} is too small; give 4 "
                                 "or more")
    if not args.spool_retention_seconds >= 60:
        raise ConfigurationError(
            f"--spool-retention-seconds {args.spool_retention_seconds:g} is too short; give 60 "
            "or more (CLASSROOM_SPOOL_RETENTION_SECONDS)")
    if not 0 < args.max_delay_ms <= 1000:
        raise ConfigurationError(f"--max-delay-ms {args.max_delay_ms} must be in (0, 1000]")
    return PodSettings(
        engine_dir=engine_dir,
        assignment=args.assignment,
        # A StatefulSet pod's hostname is its name, so POD_NAME is only a safety net.
        pod_name=env.get("POD_NAME") or socket.gethostname(),
        id_secret=secret,
        sink_token=env.get("CLASSROOM_SINK_TOKEN") or None,
        api_token=api_token(env.get("CLASSROOM_POD_API_TOKEN")),
        sink_signing_key=signing_key,
        stream_credentials=args.stream_credentials,
        policy=InferencePolicy(emotion=args.emotion == "enabled"),
        spool_dir=args.spool_dir,
        backend=args.backend,
        spool_max_bytes=args.spool_max_mib << 20,
        spool_retention_seconds=args.spool_retention_seconds,
        max_delay_seconds=args.max_delay_ms / 1000,
        drain_seconds=args.drain_seconds,
    )


async def serve(settings: PodSettings, host: str, port: int) -> int:
    pod = Pod(settings)
    # HTTP first: liveness answers while a large engine loads.
    runner, _ = await listen(create_app(pod), host, port, runner_options=access_log())
    log.info("serving %s as pod %s on http://%s:%d", settings.engine_dir, settings.pod_name,
             host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    code = 0
    try:
        starting = asyncio.create_task(pod.start())
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait({starting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        if starting.done() and starting.exception() is not None:
            error = starting.exception()
            log.error("cannot start: %s", error)
            code = EXIT_CONFIGURATION if _is_configuration(error) else 1
        else:
            log.info("ready once the assignment is applied; SIGTERM drains")
            await stop.wait()
            log.info("SIGTERM: draining")
        starting.cancel()
        stopping.cancel()
        delivered = await pod.drain()
        log.info("stopped%s", "" if delivered else "; undelivered events stay in the spool")
    finally:
        await runner.cleanup()
    return code


def _is_configuration(error: BaseException | None) -> bool:
    if isinstance(error, BackendUnavailable):
        return False  # the node may get its device or libraries back: let Kubernetes retry
    return isinstance(error, RunnerError | SpoolUnavailable | ConfigurationError | ValueError)


def run(args: argparse.Namespace) -> int:
    configure_logs(args.log_level)
    try:
        settings = settings_from(args, dict(os.environ))
    except ConfigurationError as exc:
        print(f"classroom-inference serve: {exc}", file=sys.stderr)
        return EXIT_CONFIGURATION
    return asyncio.run(serve(settings, args.host, args.port))

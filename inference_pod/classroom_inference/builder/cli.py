"""The builder's commands: `build` (what the build Job runs), `reference-model` and `gc`."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from classroom_inference.builder.build import BACKENDS, BuildRequest, build_engine, opt_throughput
from classroom_inference.builder.errors import EXIT_TRANSIENT, BuildError, InvalidSpec
from classroom_inference.builder.fetch import FetchPolicy, sha256_file
from classroom_inference.builder.report import Progress, summary_line, write_termination_log
from classroom_inference.builder.spec import HEADS, BuildSpec, load_spec
from classroom_inference.builder.store import FINGERPRINT, EngineStore

SPEC_ENV = "CLASSROOM_BUILD_SPEC"


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    build = commands.add_parser(
        "build", help="build, validate, measure and store one engine",
        description="Build one engine for a GPU class and store it under <store>/<fingerprint>. "
                    f"The spec comes from ${SPEC_ENV} (JSON: model, engine, validation, gpu) "
                    "or --spec FILE. Exit 0: stored; 2: bad input, do not retry; other: retry.")
    build.add_argument("--fingerprint", required=True, help="16 lowercase hex characters")
    build.add_argument("--backend", required=True, choices=BACKENDS)
    build.add_argument("--gpu-class", required=True,
                       help="e.g. nvidia-h100-80gb-hbm3-sm90-drv580, or cpu")
    build.add_argument("--store", required=True, type=Path, help="the engine store folder")
    build.add_argument("--termination-log", type=Path, default=None,
                       help="where the one-line JSON summary goes (e.g. /dev/termination-log)")
    build.add_argument("--spec", type=Path, default=None,
                       help=f"read the build spec from this JSON file instead of ${SPEC_ENV}")
    build.add_argument("--measure-seconds", type=float, default=1.0,
                       help="time spent measuring each batch size (default 1)")
    build.set_defaults(run=run_build)

    reference = commands.add_parser(
        "reference-model", help="write the small multi-head reference ONNX model",
        description="Write a seeded multi-head classroom model (float NCHW input, ImageNet "
                    "mean/std) and print the `model` part of a spec that describes it.")
    reference.add_argument("--out", required=True, type=Path)
    reference.add_argument("--size", type=int, default=224, help="input height and width")
    reference.add_argument("--channels", type=int, default=3, choices=(1, 3))
    reference.add_argument("--heads", default=",".join(HEADS),
                           help="comma-separated subset of " + ",".join(HEADS))
    reference.set_defaults(run=run_reference_model)

    gc = commands.add_parser(
        "gc", help="delete engines from the store",
        description="Delete <store>/<fingerprint> for each --fingerprint (renamed away first, so "
                    "no reader sees half an engine), and staging folders left by killed builds.")
    gc.add_argument("--store", required=True, type=Path)
    gc.add_argument("--fingerprint", action="append", default=[],
                    help="an engine to delete (repeatable)")
    gc.add_argument("--staging-older-than", type=float, default=86400.0, metavar="SECONDS",
                    help="also delete staging folders older than this (default one day)")
    gc.set_defaults(run=run_gc)


def _read_spec(args: argparse.Namespace) -> BuildSpec:
    if args.spec is not None:
        try:
            text = args.spec.read_text()
        except OSError as exc:
            raise InvalidSpec(f"--spec: cannot read {args.spec}: {exc.strerror}") from None
        return load_spec(text, f"--spec {args.spec}")
    text = os.environ.get(SPEC_ENV)
    if not text:
        raise InvalidSpec(f"no build spec: set ${SPEC_ENV} to the JSON spec or pass --spec FILE")
    return load_spec(text, f"${SPEC_ENV}")


def run_build(args: argparse.Namespace) -> int:
    # Step lines are for the operator reading the pod's log; at a terminal the status line
    # says the same.
    progress = Progress(steps=None if sys.stdout.isatty() else sys.stdout,
                        fingerprint=args.fingerprint)
    started = time.monotonic()
    summary: dict[str, Any] = {"fingerprint": args.fingerprint, "backend": args.backend}
    code = 0
    try:
        if not FINGERPRINT.match(args.fingerprint):
            raise InvalidSpec(f"--fingerprint: must be 16 lowercase hex characters, got "
                              f"{args.fingerprint!r}")
        progress.step("spec")
        spec = _read_spec(args)
        result = build_engine(BuildRequest(
            fingerprint=args.fingerprint, backend=args.backend, gpu_class=args.gpu_class,
            store=args.store, spec=spec, fetch_policy=FetchPolicy.from_env(),
            measure_seconds=args.measure_seconds), progress)
        meta = result.meta
        summary.update(
            state="Ready", reason=result.reason, permanent=False,
            message=f"engine {meta['engineFile']} stored ({meta['precision']})",
            buildSeconds=meta.get("buildSeconds"), sizeBytes=meta.get("sizeBytes"),
            throughput=opt_throughput(meta, spec.engine.batch.opt),
            validation=result.validation,
            heads={h: v.get("activation") for h, v in (meta.get("heads") or {}).items()},
            warnings=list(meta.get("warnings") or []))
    except BuildError as exc:
        code = exc.exit_code
        summary.update(state="Failed", reason=exc.reason, permanent=exc.permanent,
                       message=str(exc), buildSeconds=round(time.monotonic() - started, 2),
                       validation=getattr(exc, "validation", None),
                       warnings=getattr(exc, "warnings", []))
    except Exception as exc:  # anything unforeseen is reported and left to the Job's backoff
        code = EXIT_TRANSIENT
        summary.update(state="Failed", reason="BuildFailed", permanent=False,
                       message=f"{type(exc).__name__}: {exc}",
                       buildSeconds=round(time.monotonic() - started, 2))
    progress.close()
    line = summary_line(summary)
    if code:
        progress.log(f"build failed ({summary['reason']}): {summary['message']}")
    write_termination_log(args.termination_log, line, progress)
    print(line, flush=True)
    return code


def run_reference_model(args: argparse.Namespace) -> int:
    from classroom_inference.builder.reference_model import reference_model, reference_spec

    heads = tuple(h.strip() for h in args.heads.split(",") if h.strip())
    try:
        model = reference_model(args.size, args.channels, heads)
    except ValueError as exc:
        print(f"reference-model: {exc}", file=sys.stderr)
        return 2
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model.SerializeToString())
    out = args.out.resolve()
    doc = reference_spec(out.as_uri(), sha256_file(out), args.size, args.channels, heads)
    print(json.dumps({"model": doc}, indent=2))
    return 0


def run_gc(args: argparse.Namespace) -> int:
    store = EngineStore(args.store)
    bad = [fp for fp in args.fingerprint if not FINGERPRINT.match(fp)]
    if bad:
        print(f"gc: --fingerprint must be 16 lowercase hex characters, got {bad}",
              file=sys.stderr)
        return 2
    try:
        removed = [fp for fp in args.fingerprint if store.remove(fp)]
        swept = store.sweep_staging(args.staging_older_than)
    except BuildError as exc:
        print(f"gc: {exc}", file=sys.stderr)
        return exc.exit_code
    absent = [fp for fp in args.fingerprint if fp not in removed]
    print(json.dumps({"removed": removed, "absent": absent, "stagingRemoved": swept}))
    return 0

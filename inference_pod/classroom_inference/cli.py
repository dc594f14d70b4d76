"""`classroom-inference`: one console script for the builder and the serving process (one image)."""

from __future__ import annotations

import argparse
import sys

from classroom_inference.builder.cli import register as register_builder
from classroom_inference.serving.cli import register as register_serving


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="classroom-inference",
        description="Build and validate classroom analytics engines, and serve them.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    register_builder(commands)
    register_serving(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    code: int = args.run(args)
    return code


if __name__ == "__main__":
    raise SystemExit(main())

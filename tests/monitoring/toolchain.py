"""Build promtool, the alert rules' checker and test runner, from its pinned Go module, once.

Prometheus tags its Go module v0.<major><minor>.<patch> (Prometheus 3.16.0 is v0.316.0). Its
go.mod has no replace directives, so `go install` builds it; the version string is set the way
Prometheus' own release build sets it, so `promtool --version` names the release.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from localcluster.toolchain import ToolchainError, _go_env, cache_root, find_go

PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
PROMETHEUS_RELEASE = "3.16.0"
PROMETHEUS_MODULE_VERSION = "v0.316.0"


def promtool_path() -> Path:
    return cache_root() / "bin" / f"promtool-v{PROMETHEUS_RELEASE}"


def _log(message: str) -> None:
    print(f"[monitoring toolchain] {message}", file=sys.stderr, flush=True)


def ensure_promtool() -> Path:
    """Return the cached promtool binary, building it first when missing."""
    binary = promtool_path()
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = find_go()
    work = cache_root() / "src" / f"promtool-v{PROMETHEUS_RELEASE}"
    gobin = work / "bin"
    gobin.mkdir(parents=True, exist_ok=True)
    version_flag = f"-X github.com/prometheus/common/version.Version={PROMETHEUS_RELEASE}"
    _log(f"building promtool {PROMETHEUS_RELEASE} (first time: a few minutes)")
    result = subprocess.run(
        [str(go), "install", "-trimpath", f"-ldflags=-s -w {version_flag}",
         f"{PROMETHEUS_MODULE}/cmd/promtool@{PROMETHEUS_MODULE_VERSION}"],
        cwd=work, env={**_go_env(go, work), "GOBIN": str(gobin), "GOFLAGS": ""},
        capture_output=True, text=True,
    )
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        raise ToolchainError(
            f"building promtool {PROMETHEUS_RELEASE} failed: {lines[-1] if lines else ''}")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(binary.name + ".partial")
    shutil.copy2(gobin / "promtool", partial)
    partial.replace(binary)  # in place whole or not at all
    return binary


def main() -> int:
    try:
        binary = ensure_promtool()
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

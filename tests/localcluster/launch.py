"""How one container is launched on this machine: its mount paths mapped to the pod's folders,
its environment (what an image and a runtime would provide, then the pod's own), its command line
and env with those paths rewritten, its working folder, and a kubeconfig for its service account.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localcluster.podspec import Lookups, MountMap, command_line, container_env
from localcluster.probes import exec_probe

Object = dict[str, Any]

SERVICE_ACCOUNT_MOUNT = "/var/run/secrets/kubernetes.io/serviceaccount"
DEFAULT_TERMINATION_PATH = "/dev/termination-log"
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Launch:
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    mounts: MountMap

    def exec_probe(self, argv: list[str], timeout: float) -> tuple[bool, str]:
        """An exec probe runs like the container: same env and folder, paths rewritten."""
        return exec_probe([self.mounts.rewrite(a) for a in argv], self.env, str(self.cwd),
                          timeout)


def mount_map(spec: Object, volume_paths: Mapping[str, Path], termination_log: Path) -> MountMap:
    pairs = {spec.get("terminationMessagePath", DEFAULT_TERMINATION_PATH): str(termination_log)}
    for mount in spec.get("volumeMounts", []):
        local = volume_paths[mount["name"]]
        if mount.get("subPath"):
            local = local / mount["subPath"]
            local.mkdir(parents=True, exist_ok=True)
        pairs[mount["mountPath"]] = str(local)
    return MountMap.of(pairs)


def prepare(pod: Object, spec: Object, *, volume_paths: Mapping[str, Path],
            termination_log: Path, pod_folder: Path, bin_dir: Path, lookups: Lookups,
            kubeconfig_for: Callable[[Path], str]) -> Launch:
    """Everything to start `spec` of `pod` (whose status already holds its addresses).
    Raises podspec.ConfigError for what the pod's author must fix."""
    mounts = mount_map(spec, volume_paths, termination_log)
    home = pod_folder / "home"
    home.mkdir(parents=True, exist_ok=True)
    env = {"PATH": f"{bin_dir}:{SYSTEM_PATH}", "HOME": str(home), "LANG": "C.UTF-8",
           "HOSTNAME": pod["spec"].get("hostname") or pod["metadata"]["name"],
           "PYTHONUNBUFFERED": "1"}
    # Pods run this checkout's code, as the agent does: the venv's editable install may point
    # at another checkout of the repository.
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    token_folder = mounts.local(SERVICE_ACCOUNT_MOUNT)
    if token_folder is not None:
        kubeconfig = pod_folder / "kubeconfig"
        kubeconfig.write_text(kubeconfig_for(Path(token_folder)))
        env["KUBECONFIG"] = str(kubeconfig)
    # Only the container's own values name paths inside its mounts; the agent's (HOME, KUBECONFIG)
    # are local already, and rewriting them would send them into a volume mounted at, say, /tmp.
    env.update({key: mounts.rewrite(value)
                for key, value in container_env(pod, spec, lookups).items()})
    argv = [mounts.rewrite(part) for part in command_line(spec, env)]
    # workingDir counts where it lies in a volume; the image's own folders are not here.
    working = mounts.local(spec["workingDir"]) if spec.get("workingDir") else None
    cwd = Path(working) if working else home
    cwd.mkdir(parents=True, exist_ok=True)
    return Launch(argv, env, cwd, mounts)

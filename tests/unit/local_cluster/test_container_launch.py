"""What a container's process is given: the contract's paths rewritten to the pod's folders, the
pod's kubeconfig when its service-account token is mounted, a working folder; and kubelet's
crash back-off."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from localcluster.containers import crash_backoff
from localcluster.launch import prepare
from localcluster.podspec import ConfigError


class NoObjects:
    def config_map(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return None

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return None


BUILD = {
    "name": "build",
    "command": ["classroom-inference", "build"],
    "args": ["--store", "/var/lib/classroom/engines", "--termination-log",
             "/dev/termination-log", "--gpu-class", "$(GPU_CLASS)"],
    "env": [{"name": "GPU_CLASS", "value": "nvidia-l4-sm89-drv550"},
            {"name": "CACHE", "value": "/var/lib/classroom/engines/timing-cache"}],
    "volumeMounts": [
        {"name": "store", "mountPath": "/var/lib/classroom/engines"},
        {"name": "kube-api-access-x", "mountPath":
         "/var/run/secrets/kubernetes.io/serviceaccount"},
    ],
}
POD: dict[str, Any] = {"metadata": {"name": "engine-build-0", "namespace": "classroom"},
                       "spec": {}, "status": {"podIP": "127.42.0.5"}}


def launch(tmp_path: Path, spec: dict[str, Any]) -> Any:
    paths = {"store": tmp_path / "volumes" / "store", "kube-api-access-x": tmp_path / "sa"}
    return prepare(POD, spec, volume_paths=paths, termination_log=tmp_path / "tl",
                   pod_folder=tmp_path / "pod", bin_dir=Path("/venv/bin"), lookups=NoObjects(),
                   kubeconfig_for=lambda folder: f"token from {folder}")


def test_contract_paths_become_the_pods_folders(tmp_path: Path) -> None:
    got = launch(tmp_path, BUILD)
    assert got.argv == ["classroom-inference", "build", "--store",
                        str(tmp_path / "volumes" / "store"), "--termination-log",
                        str(tmp_path / "tl"), "--gpu-class", "nvidia-l4-sm89-drv550"]
    assert got.env["CACHE"] == str(tmp_path / "volumes" / "store" / "timing-cache")
    assert got.env["PATH"].startswith("/venv/bin:")
    assert got.env["HOSTNAME"] == "engine-build-0"
    assert got.cwd == tmp_path / "pod" / "home" and got.cwd.is_dir()


def test_mounted_token_gives_the_pod_a_kubeconfig(tmp_path: Path) -> None:
    got = launch(tmp_path, BUILD)
    kubeconfig = Path(got.env["KUBECONFIG"])
    assert kubeconfig.read_text() == f"token from {tmp_path / 'sa'}"


def test_no_token_mount_no_kubeconfig(tmp_path: Path) -> None:
    spec = {**BUILD, "volumeMounts": BUILD["volumeMounts"][:1]}
    assert "KUBECONFIG" not in launch(tmp_path, spec).env


def test_working_dir_inside_a_volume_is_used(tmp_path: Path) -> None:
    got = launch(tmp_path, {**BUILD, "workingDir": "/var/lib/classroom/engines/work"})
    assert got.cwd == tmp_path / "volumes" / "store" / "work" and got.cwd.is_dir()


def test_sub_path_mounts_a_folder_of_the_volume(tmp_path: Path) -> None:
    spec = {**BUILD, "volumeMounts": [{"name": "store", "mountPath": "/engines",
                                       "subPath": "district-7"}]}
    got = prepare(POD, {**spec, "args": ["/engines/x"]},
                  volume_paths={"store": tmp_path / "store"}, termination_log=tmp_path / "tl",
                  pod_folder=tmp_path / "pod", bin_dir=Path("/venv/bin"), lookups=NoObjects(),
                  kubeconfig_for=str)
    assert got.argv[-1] == str(tmp_path / "store" / "district-7" / "x")


def test_missing_command_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no command"):
        launch(tmp_path, {key: value for key, value in BUILD.items() if key != "command"})


def test_crash_backoff_doubles_to_five_minutes_and_resets_after_a_long_run() -> None:
    delays = [crash_backoff(None, 1.0)]
    for _ in range(7):
        delays.append(crash_backoff(delays[-1], 1.0))
    assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert crash_backoff(300.0, 601.0) == 10.0


def test_a_volume_over_the_agents_folders_leaves_its_own_paths_alone(tmp_path: Path) -> None:
    # The pod's folder (HOME, its kubeconfig) lies under a path the pod also mounts a volume at.
    spec = {**BUILD, "volumeMounts": [*BUILD["volumeMounts"],
                                      {"name": "scratch", "mountPath": str(tmp_path)}]}
    paths = {"store": tmp_path / "volumes" / "store", "kube-api-access-x": tmp_path / "sa",
             "scratch": tmp_path / "scratch-volume"}
    got = prepare(POD, spec, volume_paths=paths, termination_log=tmp_path / "tl",
                  pod_folder=tmp_path / "pod", bin_dir=Path("/venv/bin"), lookups=NoObjects(),
                  kubeconfig_for=lambda folder: "token")
    assert got.env["HOME"] == str(tmp_path / "pod" / "home")
    assert got.env["KUBECONFIG"] == str(tmp_path / "pod" / "kubeconfig")

"""A pod's volumes as local folders, laid out and refreshed the way kubelet does.

ConfigMap, Secret, downward API and projected volumes (the service-account token included) are
written with kubelet's atomic writer: the files live in a timestamped folder, `..data` points at
it, and each top-level name is a link through `..data`, so a process that re-reads a file sees the
old or the new content, never half of each. `refresh()` rewrites them when the objects change.
emptyDir is a fresh folder; a persistentVolumeClaim is the hostPath folder of its bound volume
(the local provisioner creates one per claim), so Jobs and pods share the engine store.
"""

from __future__ import annotations

import base64
import datetime
import os
import shutil
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from localcluster.kubeapi import ApiError
from localcluster.podspec import ConfigError, field_ref

Object = dict[str, Any]
Files = dict[str, tuple[bytes, int]]

DEFAULT_MODE = 0o644
# kubelet refreshes a projected token at 80% of its lifetime (or after 24 hours).
TOKEN_REFRESH_FRACTION = 0.8


class VolumeError(Exception):
    """A volume cannot be set up yet (kubelet's FailedMount); the pod waits and retries."""


class VolumeSources(Protocol):
    def config_map_files(self, namespace: str, name: str) -> dict[str, bytes] | None: ...

    def secret_files(self, namespace: str, name: str) -> dict[str, bytes] | None: ...

    def service_account_token(self, pod: Object, audience: str | None,
                              expiration_seconds: int) -> tuple[str, float]: ...

    def claim_path(self, namespace: str, claim: str) -> Path: ...


def write_atomic(target: Path, files: Files) -> bool:
    """Make `target` hold exactly `files` (relative path -> (bytes, mode)); True if it changed."""
    target.mkdir(parents=True, exist_ok=True)
    data_link = target / "..data"
    if data_link.is_symlink() and _same(data_link.resolve(), files):
        return False
    stamp = datetime.datetime.now(datetime.UTC).strftime("..%Y_%m_%d_%H_%M_%S.%f")
    version = target / stamp
    version.mkdir()
    for relative, (content, mode) in files.items():
        path = version / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        path.chmod(mode)
    old = data_link.resolve() if data_link.is_symlink() else None
    temporary = target / "..data_tmp"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(stamp)
    temporary.replace(data_link)
    tops = {relative.split("/", 1)[0] for relative in files}
    for top in tops:
        link = target / top
        if not link.is_symlink():
            link.symlink_to(Path("..data") / top)
    for entry in target.iterdir():
        if entry.is_symlink() and not entry.name.startswith("..") and entry.name not in tops:
            entry.unlink()
    if old is not None and old.name != stamp:
        shutil.rmtree(old, ignore_errors=True)
    return True


def _same(version: Path, files: Files) -> bool:
    present = {
        str(p.relative_to(version)) for p in version.rglob("*") if p.is_file()
    } if version.is_dir() else set()
    if present != set(files):
        return False
    return all((version / rel).read_bytes() == content for rel, (content, _) in files.items())


def _items(data: Mapping[str, bytes], items: list[Object] | None, mode: int,
           what: str) -> Files:
    if not items:
        return {key: (value, mode) for key, value in data.items()}
    files: Files = {}
    for item in items:
        if item["key"] not in data:
            raise VolumeError(f"{what}: no key {item['key']!r}")
        files[item["path"]] = (data[item["key"]], int(item.get("mode", mode)))
    return files


def decode_secret(secret: Object) -> dict[str, bytes]:
    return {k: base64.b64decode(v) for k, v in (secret.get("data") or {}).items()}


def config_map_bytes(config_map: Object) -> dict[str, bytes]:
    data = {k: v.encode() for k, v in (config_map.get("data") or {}).items()}
    data.update({k: base64.b64decode(v) for k, v in (config_map.get("binaryData") or {}).items()})
    return data


@dataclass
class _Token:
    value: str = ""
    fetched: float = 0.0
    expires: float = 0.0


@dataclass
class PodVolumes:
    """The local folders of one pod's volumes under `root`."""

    pod: Object
    root: Path
    sources: VolumeSources
    paths: dict[str, Path] = field(default_factory=dict)
    _tokens: dict[tuple[str, int], _Token] = field(default_factory=dict)

    @property
    def namespace(self) -> str:
        return str(self.pod["metadata"]["namespace"])

    def setup(self) -> dict[str, Path]:
        """Create every volume's folder; raises VolumeError while one cannot be made yet."""
        for volume in self.pod["spec"].get("volumes", []):
            name = volume["name"]
            if "persistentVolumeClaim" in volume:
                claim = volume["persistentVolumeClaim"]["claimName"]
                self.paths[name] = self.sources.claim_path(self.namespace, claim)
            elif "hostPath" in volume:
                path = Path(volume["hostPath"]["path"])
                if volume["hostPath"].get("type") in ("DirectoryOrCreate", None, ""):
                    path.mkdir(parents=True, exist_ok=True)
                self.paths[name] = path
            elif "emptyDir" in volume:
                self.paths[name] = self.root / name
                self.paths[name].mkdir(parents=True, exist_ok=True)
            else:
                files = self._files(volume)
                if files is None:
                    raise VolumeError(
                        f"volume {name}: {', '.join(k for k in volume if k != 'name')} volumes "
                        "are not supported by the local node agent"
                    )
                self.paths[name] = self.root / name
                write_atomic(self.paths[name], files)
        return self.paths

    def refresh(self, pod: Object) -> None:
        """Rewrite ConfigMap, Secret, downward API and token contents that changed."""
        self.pod = pod
        for volume in self.pod["spec"].get("volumes", []):
            if volume["name"] in self.paths:
                try:
                    files = self._files(volume)
                except (VolumeError, ConfigError, ApiError):
                    continue  # kubelet keeps the last good content while an object is missing
                if files is not None:
                    write_atomic(self.paths[volume["name"]], files)

    def _files(self, volume: Object) -> Files | None:
        if "configMap" in volume:
            return self._config_map(volume["configMap"])
        if "secret" in volume:
            return self._secret(volume["secret"])
        if "downwardAPI" in volume:
            source = volume["downwardAPI"]
            return self._downward(source, int(source.get("defaultMode", DEFAULT_MODE)))
        if "projected" in volume:
            return self._projected(volume["projected"])
        return None

    def _config_map(self, source: Object, mode: int | None = None) -> Files:
        mode = int(source.get("defaultMode", DEFAULT_MODE)) if mode is None else mode
        data = self.sources.config_map_files(self.namespace, source["name"])
        if data is None:
            if source.get("optional"):
                return {}
            raise VolumeError(f'configmap "{source["name"]}" not found')
        return _items(data, source.get("items"), mode, f"configmap {source['name']}")

    def _secret(self, source: Object, mode: int | None = None) -> Files:
        mode = int(source.get("defaultMode", DEFAULT_MODE)) if mode is None else mode
        name = source.get("secretName") or source.get("name", "")
        data = self.sources.secret_files(self.namespace, name)
        if data is None:
            if source.get("optional"):
                return {}
            raise VolumeError(f'secret "{name}" not found')
        return _items(data, source.get("items"), mode, f"secret {name}")

    def _downward(self, source: Object, mode: int) -> Files:
        files: Files = {}
        for item in source.get("items", []):
            if "fieldRef" not in item:
                raise VolumeError(f"downwardAPI {item['path']}: only fieldRef is supported")
            value = field_ref(self.pod, item["fieldRef"]["fieldPath"])
            files[item["path"]] = (value.encode(), int(item.get("mode", mode)))
        return files

    def _projected(self, projected: Object) -> Files:
        mode = int(projected.get("defaultMode", DEFAULT_MODE))
        files: Files = {}
        for source in projected.get("sources", []):
            if "serviceAccountToken" in source:
                token = source["serviceAccountToken"]
                lifetime = int(token.get("expirationSeconds", 3600))
                value = self._token(token.get("audience"), lifetime)
                files[token["path"]] = (value.encode(), mode)
            elif "configMap" in source:
                files.update(self._config_map(source["configMap"], mode))
            elif "secret" in source:
                files.update(self._secret(source["secret"], mode))
            elif "downwardAPI" in source:
                files.update(self._downward(source["downwardAPI"], mode))
            else:
                raise VolumeError(f"projected source {', '.join(source)} is not supported")
        return files

    def _token(self, audience: str | None, expiration: int) -> str:
        key = (audience or "", expiration)
        cached = self._tokens.setdefault(key, _Token())
        now = time.time()
        lifetime = cached.expires - cached.fetched
        if not cached.value or now - cached.fetched > min(lifetime * TOKEN_REFRESH_FRACTION, 86400):
            cached.value, cached.expires = self.sources.service_account_token(
                self.pod, audience, expiration
            )
            cached.fetched = now
        return cached.value


def remove_tree(path: Path) -> None:
    """Remove a pod's folder even where a volume left read-only modes behind."""
    if not path.exists():
        return
    for folder, _, _ in os.walk(path):
        os.chmod(folder, 0o755)
    shutil.rmtree(path, ignore_errors=True)

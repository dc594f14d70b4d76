"""What a container's process gets, computed from its pod as kubelet does: the environment
(envFrom, env, downward API, ConfigMap and Secret keys), `$(VAR)` expansion of env values, command
and args, and the mapping of mount paths to local folders.

Pure functions over plain pod objects; the node agent supplies ConfigMaps and Secrets through
a `Lookups` it owns.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

Object = dict[str, Any]

ENV_NAME = re.compile(r"^[-._a-zA-Z][-._a-zA-Z0-9]*$")


class ConfigError(Exception):
    """A container's configuration cannot be resolved (kubelet's CreateContainerConfigError)."""

    reason = "CreateContainerConfigError"


class Lookups(Protocol):
    def config_map(self, namespace: str, name: str) -> Mapping[str, str] | None: ...

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None: ...


def expand(text: str, lookup: Callable[[str], str | None]) -> str:
    """Kubernetes' `$(VAR)` expansion: a defined name is replaced, an undefined one is left as
    written, `$$` is a literal `$`, and any other `$` stays as it is."""
    out: list[str] = []
    cursor = checkpoint = 0
    while cursor < len(text):
        if text[cursor] == "$" and cursor + 1 < len(text):
            out.append(text[checkpoint:cursor])
            following = text[cursor + 1]
            if following == "$":
                out.append("$")
                cursor += 1
            elif following == "(":
                end = text.find(")", cursor + 2)
                if end == -1:
                    out.append("$(")
                    cursor += 1
                else:
                    name = text[cursor + 2:end]
                    value = lookup(name)
                    out.append(f"$({name})" if value is None else value)
                    cursor = end
            else:
                out.append("$" + following)
                cursor += 1
            checkpoint = cursor + 1
        cursor += 1
    out.append(text[checkpoint:])
    return "".join(out)


def field_ref(pod: Object, path: str) -> str:
    """The downward API's fieldRef values."""
    metadata, spec, status = pod.get("metadata", {}), pod.get("spec", {}), pod.get("status", {})
    simple = {
        "metadata.name": metadata.get("name", ""),
        "metadata.namespace": metadata.get("namespace", ""),
        "metadata.uid": metadata.get("uid", ""),
        "spec.nodeName": spec.get("nodeName", ""),
        "spec.serviceAccountName": spec.get("serviceAccountName", ""),
        "status.hostIP": status.get("hostIP", ""),
        "status.hostIPs": ",".join(ip["ip"] for ip in status.get("hostIPs", [])),
        "status.podIP": status.get("podIP", ""),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs", [])),
    }
    if path in simple:
        return str(simple[path])
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if keyed:
        return str(metadata.get(keyed.group(1), {}).get(keyed.group(2), ""))
    if path in ("metadata.labels", "metadata.annotations"):
        items = metadata.get(path.split(".")[1], {})
        return "\n".join(f'{k}="{v}"' for k, v in sorted(items.items()))
    raise ConfigError(f"fieldRef {path!r} is not a supported downward API field")


def _key_ref(kind: str, ref: Object, source: Mapping[str, str] | None,
             namespace: str) -> str | None:
    name, key, optional = ref.get("name", ""), ref["key"], bool(ref.get("optional", False))
    if source is None:
        if optional:
            return None
        raise ConfigError(f'{kind.lower()} "{name}" not found')
    if key not in source:
        if optional:
            return None
        raise ConfigError(f"couldn't find key {key} in {kind} {namespace}/{name}")
    return source[key]


def container_env(pod: Object, container: Object, lookups: Lookups) -> dict[str, str]:
    """The container's environment in kubelet's order: envFrom, then env (later wins); env
    values expand `$(VAR)` against what is defined before them."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        prefix = source.get("prefix", "")
        for kind, field in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(field)
            if ref is None:
                continue
            data = (lookups.config_map if kind == "ConfigMap" else lookups.secret)(
                namespace, ref["name"]
            )
            if data is None:
                if ref.get("optional"):
                    continue
                raise ConfigError(f'{kind.lower()} "{ref["name"]}" not found')
            for key, text in data.items():
                if ENV_NAME.match(prefix + key):
                    env[prefix + key] = text
    for var in container.get("env", []):
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(var.get("value", ""), env.get)
            continue
        source = var["valueFrom"]
        value: str | None
        if "fieldRef" in source:
            value = field_ref(pod, source["fieldRef"]["fieldPath"])
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            value = _key_ref("ConfigMap", ref, lookups.config_map(namespace, ref.get("name", "")),
                             namespace)
        elif "secretKeyRef" in source:
            ref = source["secretKeyRef"]
            value = _key_ref("Secret", ref, lookups.secret(namespace, ref.get("name", "")),
                             namespace)
        else:
            raise ConfigError(
                f"env {name}: {', '.join(source)} is not supported by the local node agent "
                "(use fieldRef, configMapKeyRef or secretKeyRef)"
            )
        if value is not None:
            env[name] = value
    return env


def command_line(container: Object, env: Mapping[str, str]) -> list[str]:
    """command + args with `$(VAR)` expanded. Images are not run here, so a command is needed."""
    command = list(container.get("command", []))
    if not command:
        raise ConfigError(
            f"container {container['name']}: no command; the local node agent runs commands "
            "on this machine and cannot use an image's entrypoint"
        )
    return [expand(part, env.get) for part in [*command, *container.get("args", [])]]


@dataclass(frozen=True)
class MountMap:
    """Container paths -> local paths. A program takes paths only through its args and env, so
    any arg or env value that starts with a mount path (`/a/b` or `/a/b/c` for the mount `/a/b`),
    or is an option `--name=/a/b/c`, is rewritten to the local folder; the longest mount wins."""

    mounts: tuple[tuple[str, str], ...]

    @classmethod
    def of(cls, pairs: Mapping[str, str]) -> MountMap:
        ordered = sorted(((k.rstrip("/") or "/", v) for k, v in pairs.items()),
                         key=lambda kv: len(kv[0]), reverse=True)
        return cls(tuple(ordered))

    def local(self, path: str) -> str | None:
        for mount, local in self.mounts:
            if path == mount:
                return local
            if path.startswith(mount + "/"):
                return local.rstrip("/") + path[len(mount):]
        return None

    def rewrite(self, value: str) -> str:
        direct = self.local(value)
        if direct is not None:
            return direct
        option = re.fullmatch(r"(--?[A-Za-z0-9][-A-Za-z0-9_.]*=)(/.*)", value)
        if option:
            local = self.local(option.group(2))
            if local is not None:
                return option.group(1) + local
        return value

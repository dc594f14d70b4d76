"""Kubernetes' `$(VAR)` expansion and how a container's environment is built (kubelet's order:
envFrom, then env; the downward API; ConfigMap and Secret keys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
from localcluster.podspec import ConfigError, command_line, container_env, expand

VARS = {"POD_IP": "127.42.0.7", "PORT": "8080", "EMPTY": ""}


@pytest.mark.parametrize(("text", "expanded"), [
    ("--host=$(POD_IP)", "--host=127.42.0.7"),
    ("$(POD_IP):$(PORT)", "127.42.0.7:8080"),
    ("$(MISSING)", "$(MISSING)"),
    ("$$(POD_IP)", "$(POD_IP)"),
    ("$$$(PORT)", "$8080"),
    ("cost: $5", "cost: $5"),
    ("$(EMPTY)x", "x"),
    ("$(POD_IP", "$(POD_IP"),
    ("trailing $", "trailing $"),
    ("$()", "$()"),
])
def test_expand(text: str, expanded: str) -> None:
    assert expand(text, VARS.get) == expanded


class Objects:
    def __init__(self, config_maps: Mapping[str, dict[str, str]],
                 secrets: Mapping[str, dict[str, str]]) -> None:
        self.config_maps, self.secrets = config_maps, secrets

    def config_map(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self.config_maps.get(f"{namespace}/{name}")

    def secret(self, namespace: str, name: str) -> Mapping[str, str] | None:
        return self.secrets.get(f"{namespace}/{name}")


POD: dict[str, Any] = {
    "metadata": {"name": "serve-0", "namespace": "district", "uid": "u-1",
                 "labels": {"pool": "a100"}},
    "spec": {"nodeName": "gpu-a100-0", "serviceAccountName": "classroom"},
    "status": {"podIP": "127.42.0.9", "hostIP": "127.41.0.1"},
}
OBJECTS = Objects({"district/settings": {"LEVEL": "info", "bad key": "x", "PORT": "9000"}},
                  {"district/ids": {"key": "s3cret"}})


def test_env_in_kubelet_order_with_downward_api_and_refs() -> None:
    container = {
        "name": "serve",
        "envFrom": [{"configMapRef": {"name": "settings"}, "prefix": "CFG_"}],
        "env": [
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
            {"name": "NODE", "valueFrom": {"fieldRef": {"fieldPath": "spec.nodeName"}}},
            {"name": "POOL",
             "valueFrom": {"fieldRef": {"fieldPath": "metadata.labels['pool']"}}},
            {"name": "LISTEN", "value": "$(POD_IP):$(CFG_PORT) $(LATER)"},
            {"name": "LATER", "value": "late"},
            {"name": "SECRET", "valueFrom": {"secretKeyRef": {"name": "ids", "key": "key"}}},
            {"name": "LEVEL",
             "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "LEVEL"}}},
        ],
    }
    env = container_env(POD, container, OBJECTS)
    assert env == {
        "CFG_LEVEL": "info", "CFG_PORT": "9000",
        "POD_IP": "127.42.0.9", "NODE": "gpu-a100-0", "POOL": "a100",
        "LISTEN": "127.42.0.9:9000 $(LATER)", "LATER": "late",
        "SECRET": "s3cret", "LEVEL": "info",
    }


def test_missing_secret_is_a_config_error_naming_it() -> None:
    container = {"name": "c", "env": [
        {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "sink", "key": "token"}}}]}
    with pytest.raises(ConfigError, match='secret "sink" not found'):
        container_env(POD, container, OBJECTS)


def test_missing_key_is_a_config_error_naming_it() -> None:
    container = {"name": "c", "env": [
        {"name": "X", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "nope"}}}]}
    with pytest.raises(ConfigError, match="couldn't find key nope in ConfigMap district/settings"):
        container_env(POD, container, OBJECTS)


def test_optional_references_may_be_missing() -> None:
    container = {"name": "c",
                 "envFrom": [{"secretRef": {"name": "absent", "optional": True}}],
                 "env": [{"name": "T", "valueFrom": {"secretKeyRef": {
                     "name": "sink", "key": "token", "optional": True}}}]}
    assert container_env(POD, container, OBJECTS) == {}


def test_unsupported_env_source_says_what_to_use() -> None:
    container = {"name": "c", "env": [
        {"name": "CPU", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}]}
    with pytest.raises(ConfigError, match="use fieldRef, configMapKeyRef or secretKeyRef"):
        container_env(POD, container, OBJECTS)


def test_command_and_args_expand_against_the_env() -> None:
    container = {"name": "serve", "command": ["classroom-inference", "serve"],
                 "args": ["--host", "$(POD_IP)", "--port", "$(PORT)", "--x=$(UNSET)"]}
    assert command_line(container, {"POD_IP": "127.42.0.9", "PORT": "8080"}) == [
        "classroom-inference", "serve", "--host", "127.42.0.9", "--port", "8080", "--x=$(UNSET)"]


def test_container_without_command_is_refused_with_the_reason() -> None:
    with pytest.raises(ConfigError, match="serve: no command; the local node agent runs"):
        command_line({"name": "serve", "args": ["--port", "8080"]}, {})

"""`helm upgrade` rolls the operator over to new values; `helm uninstall` removes the operator
but keeps the CRDs, every ClassroomModel and the engine store; a reinstall picks them up."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from integration.admission.cases import valid_model
from integration.chart.release import Release


def _get(release: Release, *args: str) -> dict[str, Any] | None:
    done = release.cluster.kubectl("get", *args, "-o", "json", check=False)
    if done.returncode != 0:
        assert "NotFound" in done.stderr, done.stderr
        return None
    found: dict[str, Any] = json.loads(done.stdout)
    return found


def _no_emotion() -> dict[str, Any]:
    """A valid model the chart's default emotion policy admits."""
    model = valid_model()
    model["spec"]["model"]["outputs"].pop("emotion")
    return model


def _env(deployment: dict[str, Any]) -> dict[str, str]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {item["name"]: item.get("value", "") for item in container["env"]}


def test_upgrade_then_uninstall_keeps_models_and_engines(
        release: Release, unfinalized: Callable[[str, str], None]) -> None:
    ns = release.namespace
    release.helm("install")
    release.rollout()
    release.cluster.kubectl("create", "-n", ns, "-f", "-", input=json.dumps(_no_emotion()))
    unfinalized(ns, "attention")

    release.helm("upgrade", operator={"replicas": 1}, engines={"gcGraceSeconds": 600})
    release.rollout()
    deployment = _get(release, "deployment", release.name, "-n", ns)
    assert deployment is not None
    assert deployment["spec"]["replicas"] == 1
    assert _env(deployment)["CLASSROOM_ENGINE_GC_SECONDS"] == "600"
    history = json.loads(release.cluster.helm("history", release.name, "--namespace", ns,
                                              "-o", "json").stdout)
    assert [(entry["revision"], entry["status"]) for entry in history] == [
        (1, "superseded"), (2, "deployed")]

    release.uninstall()
    assert _get(release, "deployment", release.name, "-n", ns) is None
    assert _get(release, "clusterrole", release.name) is None
    assert _get(release, "clusterkopfpeering", ns) is None
    assert _get(release, "crd", "classroommodels.classroom-operator.io") is not None
    assert _get(release, "crd", "classrooms.classroom-operator.io") is not None
    assert _get(release, "cmodel", "attention", "-n", ns) is not None
    claim = _get(release, "pvc", f"{release.name}-engines", "-n", ns)
    assert claim is not None
    assert claim["metadata"].get("deletionTimestamp") is None

    release.helm("install")
    release.rollout()
    assert _get(release, "cmodel", "attention", "-n", ns) is not None
    assert _get(release, "pvc", f"{release.name}-engines", "-n", ns) is not None


def test_uninstall_without_keep_removes_the_engine_store(release: Release) -> None:
    release.helm("install", engineStore={"keepOnUninstall": False})
    assert _get(release, "pvc", f"{release.name}-engines", "-n", release.namespace) is not None
    release.uninstall()
    claim = _get(release, "pvc", f"{release.name}-engines", "-n", release.namespace)
    assert claim is None or claim["metadata"].get("deletionTimestamp")

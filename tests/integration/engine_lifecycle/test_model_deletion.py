"""Deleting a ClassroomModel removes the build Jobs only it needed and releases its engines to
the catalogue's grace period; engines another model still uses stay; unused engines are removed
from the store after the grace period by a cleanup Job."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from bench.operator_harness import (
    CLAIM,
    OperatorProcess,
    apply,
    converged,
    jobs,
    model,
    model_manifest,
    wait_for,
)
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api
from localcluster.nodes import a100, l4

CATALOGUE = "/api/v1/namespaces/{namespace}/configmaps/classroom-engines"


def _catalogue(api: Api, namespace: str) -> dict[str, dict[str, Any]]:
    found = api.get_or_none(CATALOGUE.format(namespace=namespace)) or {}
    return {fp: json.loads(text) for fp, text in (found.get("data") or {}).items()}


def _fingerprints(api: Api, namespace: str, name: str) -> dict[str, str]:
    found = model(api, namespace, name) or {}
    return {e["gpuClass"]: e["fingerprint"]
            for e in (found.get("status") or {}).get("engines", []) if e["state"] == "Ready"}


def test_deleting_a_model_removes_its_jobs_and_releases_its_engines(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    nodes(a100(f"{stem}-a100-0", runner="kwok", labels={"room": "lab"}),
          l4(f"{stem}-l4-0", runner="kwok"))
    operator(CLASSROOM_ENGINE_GC_SECONDS="3600")
    # Same engine settings: "lab" needs only the A100 engine, "school" both.
    apply(cluster, pool, [model_manifest("school", pool),
                          model_manifest("lab", pool, selector={"room": "lab"})])
    school = wait_for(lambda: len(_fingerprints(api, pool, "school")) == 2
                      and _fingerprints(api, pool, "school"), "school's 2 engines")
    wait_for(lambda: len(_fingerprints(api, pool, "lab")) == 1, "lab's engine")
    shared = school["nvidia-a100-sxm4-80gb-sm80-drv550"]
    only_school = school["nvidia-l4-sm89-drv550"]
    assert _fingerprints(api, pool, "lab") == {"nvidia-a100-sxm4-80gb-sm80-drv550": shared}
    assert {j["metadata"]["name"] for j in jobs(api, pool)} == {
        f"engine-build-{shared}", f"engine-build-{only_school}"}

    cluster.kubectl("delete", "classroommodel", "school", "-n", pool, "--timeout=60s")
    assert model(api, pool, "school") is None  # the finalizer was released
    names = {j["metadata"]["name"] for j in jobs(api, pool)}
    assert names == {f"engine-build-{shared}"}
    catalogue = _catalogue(api, pool)
    assert catalogue[only_school]["releasedAt"] is not None
    assert catalogue[shared]["releasedAt"] is None
    reasons = cluster.kubectl("get", "events", "-n", pool, "-o",
                              "jsonpath={.items[*].reason}").stdout.split()
    assert "EngineReleased" in reasons
    lab = model(api, pool, "lab")
    assert converged(lab) and lab is not None and lab["status"]["phase"] == "Ready"


def test_unused_engine_is_removed_from_the_store_after_the_grace_period(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    # The engines are "built" on kwok nodes; the cleanup Job, which needs no GPU, runs for real
    # on one of the session's agent nodes.
    nodes(a100(f"{stem}-a100-0", runner="kwok"), l4(f"{stem}-l4-0", runner="kwok"))
    operator(CLASSROOM_ENGINE_GC_SECONDS="2", CLASSROOM_RESYNC_SECONDS="1")
    apply(cluster, pool, [model_manifest("district", pool)])
    wait_for(lambda: len(_fingerprints(api, pool, "district")) == 2, "district's engines")
    store = cluster.state / "volumes" / pool / CLAIM
    fingerprints = _fingerprints(api, pool, "district")
    l4_engine = fingerprints["nvidia-l4-sm89-drv550"]
    (store / l4_engine).mkdir(parents=True, exist_ok=True)  # kwok built nothing: stand one in
    (store / l4_engine / "engine.onnx").write_bytes(b"engine")

    cluster.remove_nodes(f"{stem}-l4-0")
    wait_for(lambda: l4_engine not in _catalogue(api, pool), "the L4 engine collected",
             timeout=60)
    cleanup = wait_for(lambda: [j for j in jobs(api, pool, "engine-gc-")
                                if j["status"].get("succeeded")], "the cleanup Job done",
                       timeout=120)
    assert cleanup[0]["metadata"]["name"].startswith(f"engine-gc-{l4_engine}-")
    assert not (store / l4_engine).exists()
    assert f"engine-build-{l4_engine}" not in {j["metadata"]["name"] for j in jobs(api, pool)}
    # The engines still needed were not touched.
    assert set(_catalogue(api, pool)) == set(fingerprints.values()) - {l4_engine}


def test_an_engine_rebuilt_and_released_again_is_removed_again(
        cluster: LocalCluster, api: Api, pool: str, stem: str, nodes: Callable[..., None],
        operator: Callable[..., OperatorProcess]) -> None:
    # The first cycle's cleanup Job stays for its ttl (a day); the second cycle must not take
    # it for its own and drop the engine from the catalogue with its files left in the store.
    nodes(a100(f"{stem}-a100-0", runner="kwok"), l4(f"{stem}-l4-0", runner="kwok"))
    operator(CLASSROOM_ENGINE_GC_SECONDS="2", CLASSROOM_RESYNC_SECONDS="1")
    apply(cluster, pool, [model_manifest("district", pool)])
    wait_for(lambda: len(_fingerprints(api, pool, "district")) == 2, "district's engines")
    store = cluster.state / "volumes" / pool / CLAIM
    l4_engine = _fingerprints(api, pool, "district")["nvidia-l4-sm89-drv550"]

    def cycle(node: str) -> str:
        """Stand the engine's files in (kwok builds nothing), let the L4 node go, and wait
        for the cleanup Job that removes them; its name."""
        (store / l4_engine).mkdir(parents=True, exist_ok=True)
        (store / l4_engine / "engine.onnx").write_bytes(b"engine")
        done_before = {j["metadata"]["name"] for j in jobs(api, pool, "engine-gc-")}
        cluster.remove_nodes(node)
        wait_for(lambda: l4_engine not in _catalogue(api, pool), "the L4 engine collected",
                 timeout=60)
        (cleanup,) = wait_for(lambda: [j for j in jobs(api, pool, "engine-gc-")
                                       if j["status"].get("succeeded")
                                       and j["metadata"]["name"] not in done_before],
                              "this cycle's cleanup Job done", timeout=120,
                              show=lambda: jobs(api, pool, "engine-gc-"))
        assert not (store / l4_engine).exists()
        name: str = cleanup["metadata"]["name"]
        return name

    first = cycle(f"{stem}-l4-0")
    # The model needs the L4 engine again: it is rebuilt and recorded anew.
    nodes(l4(f"{stem}-l4-1", runner="kwok"))
    wait_for(lambda: _fingerprints(api, pool, "district").get("nvidia-l4-sm89-drv550")
             == l4_engine and l4_engine in _catalogue(api, pool), "the L4 engine rebuilt",
             timeout=60)
    second = cycle(f"{stem}-l4-1")
    assert first != second
    assert {first, second} <= {j["metadata"]["name"] for j in jobs(api, pool, "engine-gc-")}

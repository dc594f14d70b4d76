"""Operator scale benchmark: 1,000 ClassroomModels (50 distinct models) over 200 kwok GPU nodes in
6 GPU classes, on the real local control plane.

    .venv/bin/python tests/bench/operator_scale.py [--kubeconfig PATH] [--models 1000] ...
    .venv/bin/pytest tests/bench/test_operator_scale.py -m bench -s

Measured:
- time from applying the models to every build Job created (50 models x 6 classes = 300 Jobs);
- API requests during that phase: the operator's own (its metrics, by verb and resource) and the
  API server's totals by verb and resource (apiserver_request_total; every client, so the
  operator-only rows are the ClassroomModel patches, their status, Jobs and the catalogue);
- the operator's peak memory (VmHWM of its process), and its CPU seconds in each phase with the
  machine's load average (the wall-clock figures depend on what else runs on the machine);
- time from relabelling 50 nodes to a new driver to the Jobs of the new GPU classes created, then
  to every model's status listing the new engines, and the operator's requests in that phase;
- how many node passes the operator made and how long the longest took (from taking node changes
  to their Jobs created), over the whole run and in the relabel phase; the model reconciles of
  that phase and their mean duration.
Figures are printed and written to bench-results/operator_scale.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from bench.operator_harness import (  # noqa: E402 - after the path set-up for script use
    MODELS,
    POOL_LABEL,
    ROOT,
    JobRecorder,
    OperatorFleet,
    model_manifest,
    prepare_namespace,
    wait_for,
)
from localcluster.cluster import LocalCluster  # noqa: E402
from localcluster.kubeapi import Api  # noqa: E402
from localcluster.nodes import GpuNode, a100, driver_labels, h100, l4, t4  # noqa: E402

NAMESPACE = f"operator-scale-{secrets.token_hex(3)}"
RESULTS = ROOT / "bench-results" / "operator_scale.json"
# Six GPU classes: (preset, driver); 200 nodes spread over them.
CLASSES = [(a100, "550.54.15"), (a100, "570.86.15"), (h100, "550.54.15"),
           (l4, "550.54.15"), (l4, "570.86.15"), (t4, "535.161.08")]
UPGRADE_DRIVER = "580.65.06"
NODE_PASSES = "classroom_operator_node_change_builds_seconds"
RECONCILES = "classroom_operator_reconcile_duration_seconds"
RESYNC_SECONDS = 60.0  # the chart's (the operator's default)


def fleet(nodes: int, pool: str) -> list[GpuNode]:
    made = []
    for index in range(nodes):
        preset, driver = CLASSES[index % len(CLASSES)]
        node = preset(f"scale-{index:03d}", runner="kwok", driver=driver)
        made.append(replace(node, labels={POOL_LABEL: pool}))
    return made


def manifests(count: int, distinct: int, pool: str) -> list[dict[str, Any]]:
    """`count` models over `distinct` ONNX files: models sharing a file share their engines."""
    items = []
    for index in range(count):
        sha = hashlib.sha256(f"classroom-model-{index % distinct}".encode()).hexdigest()
        items.append(model_manifest(f"school-{index:04d}", pool, sha256=sha,
                                    uri=f"https://models.example.org/{index % distinct}.onnx"))
    return items


def apiserver_requests(cluster: LocalCluster) -> Counter[str]:
    """apiserver_request_total summed by `VERB resource[/subresource]`."""
    text = cluster.kubectl("get", "--raw", "/metrics").stdout
    totals: Counter[str] = Counter()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        totals[f"{labels.get('verb', '')} {resource}"] += int(float(line.rsplit(" ", 1)[1]))
    return totals


def operator_requests(samples: dict[str, float]) -> Counter[str]:
    totals: Counter[str] = Counter()
    for key, value in samples.items():
        if key.startswith("classroom_operator_api_requests_total{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', key))
            totals[f"{labels['verb']} {labels['resource']}"] += int(value)
    return totals


@contextmanager
def local_cluster(kubeconfig: Path | None) -> Iterator[LocalCluster]:
    if kubeconfig is not None:
        yield LocalCluster.attach(kubeconfig)
        return
    with tempfile.TemporaryDirectory(prefix="operator-scale-") as state:
        cluster = LocalCluster(Path(state))
        cluster.start()
        try:
            yield cluster
        finally:
            cluster.stop()


def run(cluster: LocalCluster, *, models: int, distinct: int, nodes: int,
        upgraded: int, logs: Path, resync: float = RESYNC_SECONDS) -> dict[str, Any]:
    api = cluster.api()
    cluster.kubectl("create", "namespace", NAMESPACE, check=False)
    prepare_namespace(cluster, NAMESPACE)
    pool = NAMESPACE
    gpu_nodes = fleet(nodes, pool)
    started = time.monotonic()
    cluster.add_nodes(*gpu_nodes)
    print(f"[scale] {nodes} kwok nodes ready in {time.monotonic() - started:.1f}s", flush=True)
    operators = OperatorFleet(cluster, NAMESPACE, api, logs)
    results: dict[str, Any] = {"models": models, "distinctModels": distinct, "nodes": nodes,
                               "gpuClasses": len(CLASSES), "resyncSeconds": resync}
    try:
        # The chart's resync period; the harness's default (10 s) is for tests that wait on it.
        operator = operators.start(CLASSROOM_RESYNC_SECONDS=str(resync))
        recorder = JobRecorder(api, NAMESPACE)
        expected = distinct * len(CLASSES)
        server_before = apiserver_requests(cluster)
        ours_before = operator_requests(operator.metrics())
        cpu_before, load_before = operator.cpu_seconds(), os.getloadavg()[0]

        started = time.monotonic()
        collection = MODELS.format(namespace=NAMESPACE)
        with ThreadPoolExecutor(8) as creators:  # as fast as kubectl apply in parallel shards
            list(creators.map(lambda item: api.create(collection, item),
                              manifests(models, distinct, pool)))
        applied = time.monotonic() - started
        wait_for(lambda: len(recorder.builds()) >= expected, f"{expected} build Jobs",
                 timeout=1800, every=0.05)
        all_jobs = max(recorder.created_at.values()) - started
        print(f"[scale] {models} models created in {applied:.1f}s; all {expected} build Jobs "
              f"created {all_jobs:.1f}s after the apply began", flush=True)
        wait_for(lambda: _statuses_recorded(api, models, len(CLASSES)), "every model's status",
                 timeout=1800, every=5.0)
        settled = time.monotonic() - started
        server = apiserver_requests(cluster) - server_before
        ours = operator_requests(operator.metrics()) - ours_before
        results.update({
            "applySeconds": round(applied, 2),
            "allBuildJobsCreatedSeconds": round(all_jobs, 2),
            "buildJobs": len(recorder.builds()),
            "allStatusesSeconds": round(settled, 2),
            "operatorRequests": dict(sorted(ours.items())),
            "operatorRequestsTotal": sum(ours.values()),
            "apiserverRequests": dict(sorted(server.items())),
            "apiserverRequestsTotal": sum(server.values()),
            "operatorPeakRssMiB": round(operator.peak_rss_bytes() / 2**20, 1),
            "operatorCpuSeconds": round(operator.cpu_seconds() - cpu_before, 1),
            # The machine's 1-minute load average at the start and the end of the phase (2
            # cores): wall-clock figures grow with it, the operator's CPU seconds do not.
            "loadAverage": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        })

        before = len(recorder.builds())
        samples_before = operator.metrics()
        ours_before = operator_requests(samples_before)
        upgrade = [n.name for n in gpu_nodes if n.driver == "550.54.15"][:upgraded]
        new_classes = {(n.product, UPGRADE_DRIVER) for n in gpu_nodes if n.name in upgrade}
        cpu_before, load_before = operator.cpu_seconds(), os.getloadavg()[0]
        started = time.monotonic()
        with ThreadPoolExecutor(8) as pool_threads:
            list(pool_threads.map(
                lambda name: cluster.relabel_node(name, driver_labels(UPGRADE_DRIVER)), upgrade))
        relabelled = time.monotonic() - started
        new_jobs = distinct * len(new_classes)
        wait_for(lambda: len(recorder.builds()) >= before + new_jobs, f"{new_jobs} new Jobs",
                 timeout=900, every=0.05)
        latest = max(t for name, t in recorder.created_at.items()
                     if name in set(recorder.builds())) - started
        engines = len(CLASSES) + len(new_classes)
        wait_for(lambda: _statuses_recorded(api, models, engines),
                 f"every model's status listing {engines} engines", timeout=1800, every=1.0)
        caught_up = time.monotonic() - started
        samples = operator.metrics()
        ours = operator_requests(samples) - ours_before
        phase = {key: value - samples_before.get(key, 0.0) for key, value in samples.items()}
        recorder.close()
        results.update({
            "relabelledNodes": len(upgrade),
            "relabelSeconds": round(relabelled, 2),
            "newGpuClasses": len(new_classes),
            "newBuildJobs": len(recorder.builds()) - before,
            "relabelToAllNewJobsSeconds": round(latest, 2),
            "relabelToAllStatusesSeconds": round(caught_up, 2),
            "relabelOperatorRequests": dict(sorted(ours.items())),
            "nodePasses": int(samples.get(f"{NODE_PASSES}_count", 0)),
            "nodePassSecondsMax": _largest_bucket(samples, NODE_PASSES),
            "relabelNodePasses": int(phase.get(f"{NODE_PASSES}_count", 0)),
            "relabelNodePassSecondsMax": _largest_bucket(phase, NODE_PASSES),
            "relabelReconciles": int(phase.get(f"{RECONCILES}_count", 0)),
            "relabelReconcileSecondsMean": round(
                phase.get(f"{RECONCILES}_sum", 0.0) / max(phase.get(f"{RECONCILES}_count", 0), 1),
                3),
            "operatorPeakRssMiBAfterRelabel": round(operator.peak_rss_bytes() / 2**20, 1),
            "relabelOperatorCpuSeconds": round(operator.cpu_seconds() - cpu_before, 1),
            "relabelLoadAverage": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        })
        print(f"[scale] relabel of {len(upgrade)} nodes: {new_jobs} new Jobs, the last "
              f"{latest:.1f}s after the first relabel; every status caught up after "
              f"{caught_up:.1f}s", flush=True)
        write(results)
    finally:
        try:
            operators.close(timeout=1800, namespace_too=True)
        finally:
            cluster.remove_nodes(*(n.name for n in gpu_nodes))
    return results


def write(results: dict[str, Any]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2), flush=True)


def _statuses_recorded(api: Api, count: int, engines: int) -> bool:
    """Every model's status lists `engines` engines (a LIST of a thousand objects: a busy API
    server may not answer in time, which only means "not yet")."""
    try:
        items = api.get(MODELS.format(namespace=NAMESPACE))["items"]
    except Exception:  # a timed-out poll is retried by the caller
        return False
    return len(items) == count and all(
        (item.get("status") or {}).get("enginesNeeded") == engines for item in items)


def _largest_bucket(samples: dict[str, float], histogram: str) -> float | None:
    """The upper bound of the smallest bucket holding every observation (a Prometheus
    histogram keeps no maximum); None without observations."""
    count = samples.get(f"{histogram}_count", 0)
    bounds = sorted(
        (float(match.group(1)), value) for key, value in samples.items()
        if (match := re.match(rf'{histogram}_bucket{{le="([^"]+)"}}', key)))
    return next((bound for bound, seen in bounds if count and seen >= count), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kubeconfig", type=Path, default=None,
                        help="a running local cluster (default: start one)")
    parser.add_argument("--models", type=int, default=1000)
    parser.add_argument("--distinct", type=int, default=50)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--upgraded", type=int, default=50)
    parser.add_argument("--resync", type=float, default=RESYNC_SECONDS,
                        help="CLASSROOM_RESYNC_SECONDS of the operator (default: the chart's)")
    args = parser.parse_args(argv)
    with local_cluster(args.kubeconfig) as cluster:
        logs = Path(tempfile.mkdtemp(prefix="operator-scale-logs-"))
        run(cluster, models=args.models, distinct=args.distinct, nodes=args.nodes,
            upgraded=args.upgraded, logs=logs, resync=args.resync)
    print(f"[scale] written to {RESULTS}; operator log in {logs}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

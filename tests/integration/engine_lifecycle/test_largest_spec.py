"""Every ClassroomModel the CRD admits can be reconciled and deleted: the largest spec the caps
allow, applied with a client-side `kubectl apply` (which keeps a copy of the object in its own
annotation), gets a status and lets its finalizer go. Annotations hold 256 KiB in all, so the
operator keeps the spec it last handled in status, not in a second annotation."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from bench.operator_harness import OperatorProcess, model, wait_for
from integration.admission.cases import valid_model
from integration.admission.largest import largest_model_spec
from localcluster.cluster import LocalCluster
from localcluster.kubeapi import Api

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"


def test_the_largest_admitted_model_is_reconciled_and_deleted(
        cluster: LocalCluster, api: Api, pool: str, tmp_path: Path,
        operator: Callable[..., OperatorProcess]) -> None:
    operator()
    manifest = valid_model()
    manifest["metadata"] = {"name": "largest", "namespace": pool}
    manifest["spec"] = largest_model_spec(True)
    path = tmp_path / "largest.json"
    path.write_text(json.dumps(manifest))
    cluster.kubectl("apply", "-f", str(path))

    stored = model(api, pool, "largest")
    assert stored is not None
    annotations = stored["metadata"].get("annotations") or {}
    assert len(annotations.get(LAST_APPLIED, "")) > 100_000, "kubectl kept no copy of the spec"

    def reconciled() -> bool:
        found = model(api, pool, "largest") or {}
        status = found.get("status") or {}
        return bool(status.get("phase")) and \
            status.get("observedGeneration") == found["metadata"]["generation"]

    wait_for(reconciled, "the largest model's status", timeout=90)
    # The spec handled is recorded in status, where a second copy of it fits.
    wait_for(lambda: "last-handled-configuration" in
             (((model(api, pool, "largest") or {}).get("status") or {}).get("kopf") or {}),
             "the spec handled, recorded in status", timeout=60)

    result = cluster.kubectl("delete", "classroommodel", "largest", "-n", pool, "--timeout=60s",
                             check=False)
    assert result.returncode == 0, result.stderr
    assert model(api, pool, "largest") is None

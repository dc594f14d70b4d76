"""The operator scale benchmark on the session's local cluster (figures, not pass/fail timings):
1,000 ClassroomModels, 50 distinct models, 200 kwok GPU nodes in 6 classes, 50 relabelled."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench.operator_scale import CLASSES, RESULTS, run
from localcluster.cluster import LocalCluster


def test_operator_scale(cluster: LocalCluster, tmp_path: Path) -> None:
    results = run(cluster, models=1000, distinct=50, nodes=200, upgraded=50, logs=tmp_path)
    assert json.loads(RESULTS.read_text()) == results
    assert results["buildJobs"] == 50 * len(CLASSES)
    assert results["newBuildJobs"] == 50 * results["newGpuClasses"]


if __name__ == "__main__":
    raise SystemExit(pytest.main([__file__, "-m", "bench", "-s"]))

"""The build Job's exact command line: the console script, the spec in CLASSROOM_BUILD_SPEC."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from unit.engine_build.kit import FINGERPRINT, build_spec

SCRIPT = Path(sys.executable).parent / "classroom-inference"


def _job(store: Path, log: Path, spec: dict[str, Any] | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CLASSROOM_BUILD_SPEC"}
    if spec is not None:
        env["CLASSROOM_BUILD_SPEC"] = json.dumps(spec)
    return subprocess.run(
        [str(SCRIPT), "build", "--fingerprint", FINGERPRINT, "--backend", "onnxruntime-cpu",
         "--gpu-class", "cpu", "--store", str(store), "--termination-log", str(log),
         "--measure-seconds", "0.02"],
        env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_job_command_builds_from_the_environment(model_spec: dict[str, Any], store: Path,
                                                     tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    done = _job(store, log, build_spec(model_spec))
    assert done.returncode == 0, done.stderr
    summary = json.loads(log.read_text())
    assert summary["state"] == "Ready" and summary["fingerprint"] == FINGERPRINT
    assert json.loads(done.stdout.strip().splitlines()[-1]) == summary
    assert "[7/9] validate" in done.stderr  # plain progress lines when not on a terminal
    # The step lines on stdout, in order, before the summary (docs/contracts.md, "Build progress").
    steps = [json.loads(line) for line in done.stdout.splitlines()[:-1]]
    order = [s["step"] for i, s in enumerate(steps) if i == 0 or s != steps[i - 1]]
    assert order == ["spec", "fetch", "check", "preprocess", "precision", "engine", "validate",
                     "measure", "store"]
    assert {step["fingerprint"] for step in steps} == {FINGERPRINT}
    assert (store / FINGERPRINT / "meta.json").is_file()


def test_no_spec_is_a_permanent_failure(store: Path, tmp_path: Path) -> None:
    log = tmp_path / "termination-log"
    done = _job(store, log, None)
    assert done.returncode == 2
    summary = json.loads(log.read_text())
    assert summary["reason"] == "InvalidSpec" and "CLASSROOM_BUILD_SPEC" in summary["message"]

"""Engines and runners for the serving benchmark.

- `reference`: the builder's reference model, built by `classroom-inference build` (fp32, ONNX
  Runtime), at any input size: the CPU figures.
- `mobilenet-v3-small`: torchvision's MobileNetV3-small at 224x224 (random weights, exported on
  the machine itself), with the builder's uint8 preprocessing fused in, fp16 (the builder's
  conversion, or torch's half export where onnxconverter-common is missing): the GPU figures,
  the model of shared/gpu/README.md.

`LentRunner` lends one loaded engine to every pod run of the benchmark, as one pod keeps its
engine for days: loading and capturing CUDA graphs happen once, not once per sweep point.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
from pathlib import Path

import numpy as np
from bench.memcpy_runner import BACKEND as STAND_IN
from bench.memcpy_runner import MemcpyStandInRunner
from classroom_inference.runners import Runner, open_runner

MODELS = ("reference", "mobilenet-v3-small")


def _command(argv: list[str]) -> str:
    from classroom_inference.builder.cli import register

    top = argparse.ArgumentParser(prog="classroom-inference")
    register(top.add_subparsers(dest="command", required=True))
    args = top.parse_args(argv)
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = args.run(args)
    if code != 0:
        raise RuntimeError(f"{argv[0]} failed: {out.getvalue()[-2000:]}")
    return out.getvalue()


def build_reference(work: Path, size: int, batch: int) -> Path:
    """The reference model built for ONNX Runtime by `classroom-inference build`, fp32."""
    model = json.loads(_command(["reference-model", "--out", str(work / "reference.onnx"),
                                 "--size", str(size)]))["model"]
    spec = {"model": model, "engine": {"precision": "fp32",
                                       "batch": {"min": 1, "opt": batch, "max": batch}},
            "validation": {"samples": 32}, "gpu": {}}
    (work / "spec.json").write_text(json.dumps(spec))
    _command(["build", "--fingerprint", "00000000000be7c4", "--backend", "onnxruntime-cpu",
              "--gpu-class", "cpu", "--store", str(work / "store"), "--spec",
              str(work / "spec.json"), "--measure-seconds", "0.2"])
    return work / "store" / "00000000000be7c4"


def build_mobilenet(work: Path, batch: int, precision: str) -> tuple[Path, str]:
    """MobileNetV3-small, uint8 NHWC in, at `precision`; (engine folder, how it was made)."""
    import onnx
    from bench.gpu_runners import _float_model, _fp16, _fused, _store

    float_path, outputs, origin = _float_model(work)
    fused = _fused(float_path, outputs)
    if precision == "fp16":
        fused, how = _fp16(fused, float_path, work, "uint8-fp16", fused=True)
        origin += f", fp16 by {how}"
    folder = _store(work / f"mobilenet-{precision}", fused, precision, sorted(outputs), batch)
    onnx.checker.check_model(str(folder / "engine.onnx"))
    return folder, origin


def open_engine(engine_dir: Path, backend: str | None) -> Runner:
    """A runner for the engine, the stand-in included (not loaded)."""
    if backend == STAND_IN:
        return MemcpyStandInRunner.for_engine(engine_dir)
    return open_runner(engine_dir, backend)


class LentRunner(Runner):
    """A loaded runner lent to one pod run after another: the pod's load, warm-up and close
    leave it as it is, and every run fills the same batch buffers."""

    def __init__(self, runner: Runner) -> None:
        super().__init__(runner.meta, runner.engine_path)
        self.runner = runner
        self._buffers: list[np.ndarray] = []
        self._handed = 0

    @property
    def backend(self) -> str:
        return self.runner.backend

    @property
    def pipeline_depth(self) -> int:
        return self.runner.pipeline_depth

    def load(self) -> None:
        """Loaded and warm already: a new pod run starts, and takes the buffers over."""
        self._handed = 0

    def warm_up(self, iterations: int = 3) -> None:
        """Warm already."""

    def batch_buffer(self) -> np.ndarray:
        if self._handed == len(self._buffers):
            self._buffers.append(self.runner.batch_buffer())
        self._handed += 1
        return self._buffers[self._handed - 1]

    def infer(self, batch: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner.infer(batch)

    def submit(self, batch: np.ndarray) -> None:
        self.runner.submit(batch)

    def collect(self) -> dict[str, np.ndarray]:
        return self.runner.collect()

    def close(self) -> None:
        """The benchmark closes the runner itself, after the last run."""

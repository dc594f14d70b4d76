"""ONNX Runtime's CUDA execution provider: GPU nodes without TensorRT.

Batches move through the GPU pipeline's pinned slots (gpu_pipeline.py); ONNX Runtime reads the
slot's device input and writes its device outputs through IO binding, on the pipeline's compute
stream, without synchronising, so the next batch's upload overlaps this batch's compute.

Provider options, after measurements on an H100 (uint8 NHWC input, fp16, batch 256):
`prefer_nhwc` lets cuDNN keep its fast channels-last kernels (+38%), and CUDA graphs remove the
per-kernel launch cost (+6%).

The engine always runs at one batch shape, the profile's max: every batch is padded up to it (the
rows past the batch hold whatever the slot held before; their heads are computed and never
downloaded). Two things measured on an H200 node force this:
- With one CUDA graph per batch size, a graph captured before the next size ran replayed stale
  state: the pod's first partial batch (37 crops, bucket 64) failed with
  cudaErrorIllegalAddress, and the error is sticky, so every later batch failed too. Reproduced
  without the pod: warm-up at every size, then one batch of 37 from the caller's thread.
  ONNX Runtime's convolutions keep per-shape state (cuDNN plans and their buffers) for the shape
  they last ran, while a graph replays the pointers of the run it was captured in; with one
  shape there is one state, the one both slots' graphs were captured with.
- Without graphs, every change of batch size cost about 2 s on the engine's thread (cuDNN plans
  made again for the new shape; measured: 24 batches of mixed sizes took 54 s, at one shape
  0.1 s), so the pod stalled for seconds at a time (p50 4.9 s at 1,000 streams).
Padding costs compute only for partial batches, which the batcher sends when the pod is lightly
loaded and the GPU has time to spare; a full batch is the same work either way.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from classroom_inference.runners.base import (
    BackendUnavailable,
    EngineInvalid,
    EngineMeta,
    RunnerError,
)
from classroom_inference.runners.cuda_memory import Cuda
from classroom_inference.runners.gpu_pipeline import GpuPipelineRunner, HeadOutput, Slot

PROVIDER = "CUDAExecutionProvider"
_OUTPUT_DTYPES: dict[str, np.dtype[Any]] = {
    "tensor(float)": np.dtype(np.float32),
    "tensor(float16)": np.dtype(np.float16),
}


def _flag_from_env(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value not in ("0", "1"):
        raise EngineInvalid(f"{name} must be 0 or 1, got {value!r}")
    return value == "1"


class OnnxRuntimeCudaRunner(GpuPipelineRunner):
    """`prefer_nhwc` / `cuda_graph` default to CLASSROOM_ORT_PREFER_NHWC / CLASSROOM_ORT_CUDA_GRAPH
    (0 or 1), else on. `options` tells what the session really runs with after load().

    The session runs on the runner's own engine thread (engine_thread.py): ONNX Runtime keeps
    CUDA graphs per calling thread, and the pod warms the engine up in one thread and serves
    from another."""

    own_thread = True

    def __init__(self, meta: EngineMeta, engine_path: Path, *, pinned: bool = True,
                 prefer_nhwc: bool | None = None, cuda_graph: bool | None = None,
                 device_id: int = 0) -> None:
        super().__init__(meta, engine_path, pinned=pinned)
        self.prefer_nhwc = (_flag_from_env("CLASSROOM_ORT_PREFER_NHWC", True)
                            if prefer_nhwc is None else prefer_nhwc)
        self.cuda_graph = (_flag_from_env("CLASSROOM_ORT_CUDA_GRAPH", True)
                           if cuda_graph is None else cuda_graph)
        self.device_id = device_id
        self.options: dict[str, str] = {}
        self._ort: Any = None
        self._session: Any = None
        self._runs: dict[int, tuple[Any, Any]] = {}
        self._run_options: Any = None

    def provider_options(self, stream_address: int, *, cuda_graph: bool) -> dict[str, str]:
        options = {
            "device_id": str(self.device_id),
            "has_user_compute_stream": "1",
            "user_compute_stream": str(stream_address),
        }
        if self.prefer_nhwc:
            options["prefer_nhwc"] = "1"
        if cuda_graph:
            options["enable_cuda_graph"] = "1"
        return options

    def load(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailable(f"onnxruntime is not installed: {exc}") from exc
        available = ort.get_available_providers()
        if PROVIDER not in available:
            raise BackendUnavailable(
                f"this onnxruntime has no {PROVIDER} (it has {', '.join(available)}); "
                "GPU nodes need the onnxruntime-gpu package instead of onnxruntime"
            )
        cuda = Cuda.load()
        self._ort = ort
        self.open_streams(cuda)
        try:
            self._session = self._create_session(ort)
            if self._session.get_providers()[0] != PROVIDER:
                raise BackendUnavailable(
                    f"ONNX Runtime fell back to {self._session.get_providers()[0]}; the CUDA "
                    "libraries it needs (cuDNN, cuBLAS) are missing on this node"
                )
            outputs = self._check_io()
        except BaseException:
            self._session = None
            self.close_pipeline()  # its streams and engine thread
            raise
        self.open_pipeline(cuda, outputs)
        self._run_options = ort.RunOptions()
        # Run() returns once the work is queued; collect() waits on the slot's event instead.
        self._run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")

    def _create_session(self, ort: Any) -> Any:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        attempts = [True, False] if self.cuda_graph else [False]
        failure: Exception | None = None
        for cuda_graph in attempts:
            provider = self.provider_options(self.compute_stream.address, cuda_graph=cuda_graph)
            try:
                session = ort.InferenceSession(
                    str(self.engine_path), sess_options=options,
                    providers=[(PROVIDER, provider), "CPUExecutionProvider"],
                )
            except Exception as exc:  # ORT raises its own Fail / InvalidArgument types
                # A graph needs every node on the GPU; ORT refuses at creation when one is not,
                # and the engine then runs without graphs.
                failure = exc
                continue
            self.cuda_graph = cuda_graph
            self.options = provider
            return session
        raise EngineInvalid(f"ONNX Runtime cannot load {self.engine_path} on CUDA: {failure}")

    def _check_io(self) -> list[HeadOutput]:
        inputs = {i.name: i for i in self._session.get_inputs()}
        name = self.meta.input.name
        if name not in inputs:
            raise EngineInvalid(f"engine has no input {name!r}; it has {sorted(inputs)}")
        if inputs[name].type != "tensor(uint8)":
            raise EngineInvalid(f"engine input is {inputs[name].type}, not uint8")
        present = {o.name: o for o in self._session.get_outputs()}
        outputs = []
        for head in self.heads:
            tensor = self.meta.outputs[head]
            if tensor not in present:
                raise EngineInvalid(f"engine lacks output {tensor!r} ({head}); "
                                    f"it has {sorted(present)}")
            shape, kind = present[tensor].shape, present[tensor].type
            if len(shape) != 2 or not isinstance(shape[1], int) or kind not in _OUTPUT_DTYPES:
                raise EngineInvalid(f"output {tensor!r} must be float [N, K] with K fixed, "
                                    f"it is {kind} {shape}")
            outputs.append(HeadOutput(head, tensor, shape[1], _OUTPUT_DTYPES[kind]))
        return outputs

    def _binding(self, slot: Slot, rows: int) -> Any:
        binding = self._session.io_binding()
        binding.bind_input(self.meta.input.name, "cuda", self.device_id, np.uint8,
                           (rows, *self.input_shape), slot.device_input.ptr)
        for out in self._outputs:
            binding.bind_output(out.tensor, "cuda", self.device_id, out.dtype,
                                (rows, out.width), slot.device_outputs[out.head].ptr)
        return binding

    def enqueue(self, slot_index: int, slot: Slot, rows: int) -> None:
        """The engine on the whole slot, at the profile's max (see the module's docstring)."""
        binding, run_options = self._run(slot_index, slot)
        try:
            self._session.run_with_iobinding(binding, run_options)
        except Exception as exc:  # ORT's own error types
            hint = " (set CLASSROOM_ORT_CUDA_GRAPH=0 to run without CUDA graphs)" \
                if self.cuda_graph else ""
            raise RunnerError(f"ONNX Runtime could not run the batch: {exc}{hint}") from exc

    def _run(self, slot_index: int, slot: Slot) -> tuple[Any, Any]:
        """The binding and run options of a slot, made on first use and kept: slots never move,
        so neither do the addresses bound. With graphs, each slot has its own graph."""
        if slot_index not in self._runs:
            run_options = self._run_options
            if self.cuda_graph:
                run_options = self._ort.RunOptions()
                run_options.add_run_config_entry("disable_synchronize_execution_providers", "1")
                # Graph ids start at 1: ORT keeps 0 as its default graph and -1 for none.
                run_options.add_run_config_entry("gpu_graph_id", str(1 + slot_index))
            self._runs[slot_index] = (self._binding(slot, self.max_batch), run_options)
        return self._runs[slot_index]

    def warm_up(self, iterations: int = 3) -> None:
        """Run the one shape on every slot before serving: cuDNN picks its algorithms on the
        first run, and each slot's graph is captured on a later one (ORT captures after a
        couple of plain runs)."""
        batch = np.zeros((self.max_batch, *self.input_shape), dtype=np.uint8)
        for _ in range(iterations * len(self.slots)):
            self.infer(batch)

    def close(self) -> None:
        # The session (and its captured graphs) runs on our stream and into our buffers: it goes
        # after the queued work and before the stream and buffers.
        self.synchronize()
        self._runs.clear()
        self._session = None
        self.close_pipeline()

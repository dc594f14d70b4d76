"""TensorRT on the GPU: the production runner of GPU nodes.

The plan is deserialized once; one execution context runs every batch on the pipeline's compute
stream with `execute_async_v3`, its input shape set to the batch's size (the engine's profile is
dynamic over the batch), and its tensors pointed at the slot's device buffers. Uploads and
downloads are the pipeline's (gpu_pipeline.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from classroom_inference.runners.base import (
    BackendUnavailable,
    BatchRejected,
    EngineInvalid,
    EngineMeta,
    RunnerError,
)
from classroom_inference.runners.cuda_memory import Cuda
from classroom_inference.runners.gpu_pipeline import GpuPipelineRunner, HeadOutput, Slot
from classroom_inference.runners.tensorrt_log import TensorRtLog, import_tensorrt


def _log_nothing(_: str) -> None:
    """TensorRT's messages matter only when something fails; those end up in the exception."""


class TensorRtRunner(GpuPipelineRunner):
    def __init__(self, meta: EngineMeta, engine_path: Path, *, pinned: bool = True) -> None:
        super().__init__(meta, engine_path, pinned=pinned)
        self._trt: Any = None
        self._log: TensorRtLog | None = None
        self._runtime: Any = None
        self._engine: Any = None
        self._context: Any = None

    def load(self) -> None:
        try:
            trt = import_tensorrt()
        except ImportError as exc:
            raise BackendUnavailable(str(exc)) from exc
        cuda = Cuda.load()
        self._trt = trt
        self._log = TensorRtLog(trt, _log_nothing)
        self._runtime = trt.Runtime(self._log.logger)
        if self.meta.raw.get("versionCompatible"):
            # A version-compatible plan carries its lean runtime as host code; TensorRT runs it
            # only when allowed. Plans come from our own store, written by our builder.
            self._runtime.engine_host_code_allowed = True
        self._engine = self._runtime.deserialize_cuda_engine(self.engine_path.read_bytes())
        if self._engine is None:
            raise EngineInvalid(
                f"TensorRT {trt.__version__} cannot load {self.engine_path} (built for another "
                f"TensorRT version or GPU?): {self._log.summary()}"
            )
        outputs = self._check_io()
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise RunnerError(f"TensorRT could not create an execution context: "
                              f"{self._log.summary()}")
        self.open_pipeline(cuda, outputs)

    def _tensors(self, mode: Any) -> list[str]:
        names = [self._engine.get_tensor_name(i) for i in range(self._engine.num_io_tensors)]
        return [n for n in names if self._engine.get_tensor_mode(n) == mode]

    def _check_io(self) -> list[HeadOutput]:
        trt = self._trt
        name = self.meta.input.name
        inputs = self._tensors(trt.TensorIOMode.INPUT)
        if inputs != [name]:
            raise EngineInvalid(f"engine inputs are {inputs}; meta.json says [{name!r}]")
        if self._engine.get_tensor_dtype(name) != trt.DataType.UINT8:
            raise EngineInvalid(f"engine input {name!r} is {self._engine.get_tensor_dtype(name)}, "
                                "not uint8")
        _, _, largest = self._engine.get_tensor_profile_shape(name, 0)
        profile_max = tuple(largest)
        if profile_max[0] < self.max_batch or profile_max[1:] != self.input_shape:
            raise EngineInvalid(f"engine profile max {list(profile_max)} does not take "
                                f"[{self.max_batch}, {', '.join(map(str, self.input_shape))}]")
        present = self._tensors(trt.TensorIOMode.OUTPUT)
        dtypes: dict[Any, np.dtype[Any]] = {trt.DataType.FLOAT: np.dtype(np.float32),
                                             trt.DataType.HALF: np.dtype(np.float16)}
        outputs = []
        for head in self.heads:
            tensor = self.meta.outputs[head]
            if tensor not in present:
                raise EngineInvalid(f"engine lacks output {tensor!r} ({head}); it has {present}")
            shape = tuple(self._engine.get_tensor_shape(tensor))
            dtype = self._engine.get_tensor_dtype(tensor)
            if len(shape) != 2 or shape[1] < 1 or dtype not in dtypes:
                raise EngineInvalid(f"output {tensor!r} must be float [N, K], it is {dtype} "
                                    f"{list(shape)}")
            outputs.append(HeadOutput(head, tensor, int(shape[1]), dtypes[dtype]))
        return outputs

    def enqueue(self, slot_index: int, slot: Slot, rows: int) -> None:
        context = self._context
        name = self.meta.input.name
        if not context.set_input_shape(name, (rows, *self.input_shape)):
            raise BatchRejected(f"TensorRT refused batch size {rows}: {self._log_summary()}")
        context.set_tensor_address(name, slot.device_input.ptr)
        for head, buffer in slot.device_outputs.items():
            context.set_tensor_address(self.meta.outputs[head], buffer.ptr)
        if not context.execute_async_v3(self.compute_stream.address):
            raise RunnerError(f"TensorRT could not run the batch: {self._log_summary()}")

    def _log_summary(self) -> str:
        return self._log.summary() if self._log is not None else ""

    def close(self) -> None:
        self.synchronize()
        self._context = None
        self._engine = None
        self._runtime = None
        self.close_pipeline()

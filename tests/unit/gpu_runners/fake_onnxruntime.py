"""A stand-in for `onnxruntime` with a CUDA execution provider, for the CUDA runner's logic.

Its public names are exactly those the ONNX Runtime CUDA runner uses (test_onnxruntime_names.py
checks that, and that each exists in the real onnxruntime). A session runs the real model with
the real (CPU) onnxruntime, reading and writing the fake device memory its IO binding points
at, on the stream given as `user_compute_stream`; without `disable_synchronize_execution_providers`
it waits for that stream, as ONNX Runtime does. Where ONNX Runtime would fail or silently compute
garbage, it raises: unknown provider options, a CUDA graph replayed with other addresses or
shapes than it was captured with, outputs bound with the wrong shape. As in ONNX Runtime, CUDA
graphs belong to the thread that ran the session: another thread captures its own.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import onnxruntime as _real
from unit.gpu_runners.fake_device import device as _device

_KNOWN_OPTIONS = {"device_id", "has_user_compute_stream", "user_compute_stream", "prefer_nhwc",
                  "enable_cuda_graph"}
_settings: dict[str, Any] = {}


def _reset() -> None:
    _settings.clear()
    _settings.update(available=["CUDAExecutionProvider", "CPUExecutionProvider"],
                     refuse_graph=False, cpu_fallback=False, sessions=[])


_reset()


def get_available_providers() -> list[str]:
    return list(_settings["available"])


class GraphOptimizationLevel:
    ORT_ENABLE_ALL = "ORT_ENABLE_ALL"


class SessionOptions:
    def __init__(self) -> None:
        self.graph_optimization_level: str | None = None


class RunOptions:
    def __init__(self) -> None:
        self._entries: dict[str, str] = {}

    def add_run_config_entry(self, key: str, value: str) -> None:
        self._entries[key] = value


class _NodeArg:
    def __init__(self, real: Any) -> None:
        self.name = str(real.name)
        self.type = str(real.type)
        self.shape = list(real.shape)


class _IOBinding:
    def __init__(self) -> None:
        self._bound: dict[str, tuple[str, np.dtype[Any], tuple[int, ...], int]] = {}

    def bind_input(self, name: str, device_type: str, device_id: int, element_type: Any,
                   shape: tuple[int, ...], buffer_ptr: int) -> None:
        self._bound[name] = (device_type, np.dtype(element_type), tuple(shape), buffer_ptr)

    def bind_output(self, name: str, device_type: str, device_id: int, element_type: Any,
                    shape: tuple[int, ...], buffer_ptr: int) -> None:
        self._bound[name] = (device_type, np.dtype(element_type), tuple(shape), buffer_ptr)


class InferenceSession:
    def __init__(self, path: str, sess_options: SessionOptions | None = None,
                 providers: list[Any] | None = None) -> None:
        name, options = (providers or [])[0]
        unknown = set(options) - _KNOWN_OPTIONS
        if name != "CUDAExecutionProvider" or unknown:
            raise RuntimeError(f"unexpected provider {name} or options {sorted(unknown)}")
        if options.get("enable_cuda_graph") == "1" and _settings["refuse_graph"]:
            raise RuntimeError("This session cannot use the CUDA Graph feature as requested by "
                               "the user as all compute graph nodes have not been partitioned "
                               "to the CUDA EP.")
        self._options = dict(options)
        self._real = _real.InferenceSession(path, providers=["CPUExecutionProvider"])
        self._graphs: dict[tuple[int, str], Any] = {}  # (thread, graph id) -> what it bound
        self._input_shapes: list[tuple[int, ...]] = []  # of every run, in order
        _settings["sessions"].append(self)

    def get_providers(self) -> list[str]:
        if _settings["cpu_fallback"]:
            return ["CPUExecutionProvider"]
        return ["CUDAExecutionProvider", "CPUExecutionProvider"]

    def get_inputs(self) -> list[_NodeArg]:
        return [_NodeArg(i) for i in self._real.get_inputs()]

    def get_outputs(self) -> list[_NodeArg]:
        return [_NodeArg(o) for o in self._real.get_outputs()]

    def io_binding(self) -> _IOBinding:
        return _IOBinding()

    def run_with_iobinding(self, binding: _IOBinding,
                           run_options: RunOptions | None = None) -> None:
        entries = run_options._entries if run_options is not None else {}
        bound = dict(binding._bound)
        names = {a.name for a in [*self._real.get_inputs(), *self._real.get_outputs()]}
        if set(bound) != names or any(b[0] != "cuda" for b in bound.values()):
            raise RuntimeError(f"binding {sorted(bound)} does not cover {sorted(names)} on cuda")
        if self._options.get("enable_cuda_graph") == "1":
            graph = entries.get("gpu_graph_id", "0")
            if self._graphs.setdefault((threading.get_ident(), graph), bound) != bound:
                raise RuntimeError(f"graph {graph} replayed with other addresses or shapes")
        self._input_shapes += [b[2] for name, b in bound.items()
                              if name in {i.name for i in self._real.get_inputs()}]
        stream = int(self._options["user_compute_stream"])
        _device.enqueue(stream, lambda: self._compute(bound))
        if entries.get("disable_synchronize_execution_providers") != "1":
            queue = _device.streams[stream]
            queue.run_until(queue.total)

    def _compute(self, bound: dict[str, tuple[str, np.dtype[Any], tuple[int, ...], int]]) -> None:
        feeds = {}
        for arg in self._real.get_inputs():
            _, dtype, shape, address = bound[arg.name]
            raw = _device.read(address, int(np.prod(shape)) * dtype.itemsize)
            feeds[arg.name] = np.frombuffer(raw, dtype=dtype).reshape(shape)
        names = [o.name for o in self._real.get_outputs()]
        for name, value in zip(names, self._real.run(names, feeds), strict=True):
            _, dtype, shape, address = bound[name]
            if value.shape != shape or value.dtype != dtype:
                raise RuntimeError(f"output {name} is {value.dtype}{list(value.shape)}, "
                                   f"bound as {dtype}{list(shape)}")
            _device.write(address, np.ascontiguousarray(value).tobytes())

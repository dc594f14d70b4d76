"""A CPU stand-in for the `tensorrt` module, for unit tests of the build and the runner's logic.

Its public names are exactly those our TensorRT code uses (test_tensorrt_names.py checks that,
and that each name exists in the real bindings of TensorRT 10 and 11). It behaves like TensorRT
where our code depends on it: the parser reads the real ONNX file and reports unsupported nodes
with their index, name and operator; the "plan" records what the build was asked for (as JSON,
so tests can read it); the runtime refuses plans it cannot load through the logger and returns
None; execute_async_v3 queues the engine on a fake_device stream, where it reads the bound
device input, runs the ONNX with ONNX Runtime on the CPU and writes the bound device outputs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from unit.gpu_runners.fake_device import device as _device

__version__ = "10.16.1.11"

# Behaviour switches a test sets (reset by the fixture).
_settings: dict[str, Any] = {}
_PLAN_TAG = "fake-tensorrt-plan"
_INVALID_GRAPH = "INVALID_GRAPH"
_OTHER_TYPE = "OTHER"


def _reset() -> None:
    _settings.clear()
    _settings.update(unsupported=set(), build_error=None)


_reset()


class NetworkDefinitionCreationFlag:
    STRONGLY_TYPED = 5


class MemoryPoolType:
    WORKSPACE = "WORKSPACE"


class HardwareCompatibilityLevel:
    AMPERE_PLUS = "AMPERE_PLUS"


class BuilderFlag:
    VERSION_COMPATIBLE = "VERSION_COMPATIBLE"


class ErrorCode:
    UNSUPPORTED_NODE = "UNSUPPORTED_NODE"
    UNSUPPORTED_NODE_ATTR = "UNSUPPORTED_NODE_ATTR"
    UNSUPPORTED_NODE_INPUT = "UNSUPPORTED_NODE_INPUT"
    UNSUPPORTED_NODE_DATATYPE = "UNSUPPORTED_NODE_DATATYPE"


class DataType:
    UINT8 = "UINT8"
    FLOAT = "FLOAT"
    HALF = "HALF"


class TensorIOMode:
    INPUT = "INPUT"
    OUTPUT = "OUTPUT"


_ONNX_TYPES: dict[int, str] = {
    onnx.TensorProto.UINT8: DataType.UINT8,
    onnx.TensorProto.FLOAT: DataType.FLOAT,
    onnx.TensorProto.FLOAT16: DataType.HALF,
}
_NUMPY_TYPES = {DataType.UINT8: np.uint8, DataType.FLOAT: np.float32, DataType.HALF: np.float16}


class ILogger:
    class Severity:
        INTERNAL_ERROR = "INTERNAL_ERROR"
        ERROR = "ERROR"
        WARNING = "WARNING"
        INFO = "INFO"

    def __init__(self) -> None:
        pass

    def log(self, severity: str, msg: str) -> None:
        raise NotImplementedError("TensorRT calls the subclass's log")


class _Tensor:
    def __init__(self, value: onnx.ValueInfoProto) -> None:
        self.name = value.name
        tensor_type = value.type.tensor_type
        self.dtype = _ONNX_TYPES.get(tensor_type.elem_type, _OTHER_TYPE)
        self.shape = tuple(d.dim_value if d.HasField("dim_value") else -1
                           for d in tensor_type.shape.dim)


class _Network:
    def __init__(self, flags: int) -> None:
        self._flags = flags
        self._onnx: Path | None = None
        self._inputs: list[_Tensor] = []
        self._outputs: list[_Tensor] = []

    @property
    def num_inputs(self) -> int:
        return len(self._inputs)

    def get_input(self, index: int) -> _Tensor:
        return self._inputs[index]


class _ParserError:
    def __init__(self, code: str, desc: str, node: int = -1, name: str = "", op: str = "") -> None:
        self._fields = (code, desc, node, name, op)

    def code(self) -> str:
        return self._fields[0]

    def desc(self) -> str:
        return self._fields[1]

    def node(self) -> int:
        return self._fields[2]

    def node_name(self) -> str:
        return self._fields[3]

    def node_operator(self) -> str:
        return self._fields[4]


class OnnxParser:
    def __init__(self, network: _Network, logger: ILogger) -> None:
        self._network = network
        self._errors: list[_ParserError] = []

    @property
    def num_errors(self) -> int:
        return len(self._errors)

    def get_error(self, index: int) -> _ParserError:
        return self._errors[index]

    def parse_from_file(self, path: str) -> bool:
        try:
            model = onnx.load(path)
        except Exception as exc:
            self._errors.append(_ParserError(_INVALID_GRAPH, f"cannot read model: {exc}"))
            return False
        for index, node in enumerate(model.graph.node):
            if node.op_type in _settings["unsupported"]:
                self._errors.append(_ParserError(
                    ErrorCode.UNSUPPORTED_NODE, f"No importer registered for op: {node.op_type}",
                    index, node.name, node.op_type))
        if self._errors:
            return False
        self._network._onnx = Path(path)
        self._network._inputs = [_Tensor(v) for v in model.graph.input]
        self._network._outputs = [_Tensor(v) for v in model.graph.output]
        return True


class _Profile:
    def __init__(self) -> None:
        self._shapes: dict[str, list[tuple[int, ...]]] = {}

    def set_shape(self, name: str, low: tuple[int, ...], opt: tuple[int, ...],
                  high: tuple[int, ...]) -> None:
        self._shapes[name] = [tuple(low), tuple(opt), tuple(high)]


class _TimingCache:
    _MAGIC = b"FAKE-TIMING-CACHE\n"

    def __init__(self, data: bytes) -> None:
        self._valid = not data or data.startswith(self._MAGIC)
        self._entries: set[str] = set()
        if data and self._valid:
            self._entries = set(json.loads(data[len(self._MAGIC):]))

    def combine(self, other: _TimingCache, ignore_mismatch: bool) -> bool:
        if not (self._valid and other._valid) and not ignore_mismatch:
            return False
        self._entries |= other._entries
        return True

    def serialize(self) -> bytes:
        return self._MAGIC + json.dumps(sorted(self._entries)).encode()


class _Config:
    def __init__(self) -> None:
        self.hardware_compatibility_level: str | None = None
        self._pools: dict[str, int] = {}
        self._profiles: list[_Profile] = []
        self._flags: set[str] = set()
        self._cache: _TimingCache | None = None

    def set_memory_pool_limit(self, pool: str, size: int) -> None:
        self._pools[pool] = size

    def add_optimization_profile(self, profile: _Profile) -> int:
        self._profiles.append(profile)
        return len(self._profiles) - 1

    def set_flag(self, flag: str) -> None:
        self._flags.add(flag)

    def create_timing_cache(self, data: bytes) -> _TimingCache:
        return _TimingCache(bytes(data))

    def set_timing_cache(self, cache: _TimingCache, ignore_mismatch: bool) -> bool:
        if not cache._valid and not ignore_mismatch:
            return False
        self._cache = cache
        return True

    def get_timing_cache(self) -> _TimingCache | None:
        return self._cache


class Builder:
    def __init__(self, logger: ILogger) -> None:
        self._logger = logger

    def create_network(self, flags: int) -> _Network:
        return _Network(flags)

    def create_builder_config(self) -> _Config:
        return _Config()

    def create_optimization_profile(self) -> _Profile:
        return _Profile()

    def build_serialized_network(self, network: _Network, config: _Config) -> bytes | None:
        if _settings["build_error"]:
            self._logger.log(ILogger.Severity.ERROR, _settings["build_error"])
            return None
        if network._onnx is None or len(config._profiles) != 1:
            self._logger.log(ILogger.Severity.ERROR, "network not parsed or no single profile")
            return None
        if config._cache is not None:
            config._cache._entries.add(f"tactics:{network._onnx.name}")
        plan = {
            "tag": _PLAN_TAG,
            "tensorrt": __version__,
            "onnx": str(network._onnx),
            "networkFlags": network._flags,
            "pools": config._pools,
            "flags": sorted(config._flags),
            "hardwareCompatibility": config.hardware_compatibility_level,
            "profile": {name: shapes for name, shapes in config._profiles[0]._shapes.items()},
            "inputs": {t.name: t.dtype for t in network._inputs},
            "outputs": {t.name: [t.dtype, list(t.shape)] for t in network._outputs},
        }
        return json.dumps(plan).encode()


class _Context:
    def __init__(self, engine: _Engine) -> None:
        self._engine = engine
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._addresses: dict[str, int] = {}
        self._session = ort.InferenceSession(engine._plan["onnx"],
                                             providers=["CPUExecutionProvider"])

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        low, _, high = self._engine._plan["profile"][name]
        if len(shape) != len(low):
            return False
        if not all(a <= s <= b for a, s, b in zip(low, shape, high, strict=True)):
            return False
        self._shapes[name] = tuple(shape)
        return True

    def set_tensor_address(self, name: str, address: int) -> bool:
        self._addresses[name] = address
        return True

    def execute_async_v3(self, stream_handle: int) -> bool:
        plan = self._engine._plan
        names = [*plan["inputs"], *plan["outputs"]]
        if any(n not in self._addresses for n in names) or set(self._shapes) != set(plan["inputs"]):
            return False
        # What TensorRT sees is fixed at enqueue time: later calls may rebind for the next batch.
        shapes, addresses = dict(self._shapes), dict(self._addresses)
        _device.enqueue(stream_handle, lambda: self._run(shapes, addresses))
        return True

    def _run(self, shapes: dict[str, tuple[int, ...]], addresses: dict[str, int]) -> None:
        plan = self._engine._plan
        feeds = {}
        for name, dtype in plan["inputs"].items():
            np_type = np.dtype(_NUMPY_TYPES[dtype])
            count = int(np.prod(shapes[name]))
            raw = _device.read(addresses[name], count * np_type.itemsize)
            feeds[name] = np.frombuffer(raw, dtype=np_type).reshape(shapes[name])
        results = self._session.run(list(plan["outputs"]), feeds)
        for (name, (dtype, _)), value in zip(plan["outputs"].items(), results, strict=True):
            out = np.ascontiguousarray(value, dtype=_NUMPY_TYPES[dtype])
            _device.write(addresses[name], out.tobytes())


class _Engine:
    def __init__(self, plan: dict[str, Any]) -> None:
        self._plan = plan
        self._names = [*plan["inputs"], *plan["outputs"]]

    @property
    def num_io_tensors(self) -> int:
        return len(self._names)

    def get_tensor_name(self, index: int) -> str:
        return self._names[index]

    def get_tensor_mode(self, name: str) -> str:
        return TensorIOMode.INPUT if name in self._plan["inputs"] else TensorIOMode.OUTPUT

    def get_tensor_dtype(self, name: str) -> str:
        if name in self._plan["inputs"]:
            return str(self._plan["inputs"][name])
        return str(self._plan["outputs"][name][0])

    def get_tensor_shape(self, name: str) -> tuple[int, ...]:
        if name in self._plan["inputs"]:
            return (-1, *self._plan["profile"][name][0][1:])
        return (-1, *self._plan["outputs"][name][1][1:])

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, ...]]:
        return [tuple(s) for s in self._plan["profile"][name]]

    def create_execution_context(self) -> _Context:
        return _Context(self)


class Runtime:
    def __init__(self, logger: ILogger) -> None:
        self._logger = logger
        self.engine_host_code_allowed = False

    def deserialize_cuda_engine(self, data: bytes) -> _Engine | None:
        try:
            plan = json.loads(data)
        except ValueError:
            plan = None
        if not isinstance(plan, dict) or plan.get("tag") != _PLAN_TAG:
            self._logger.log(ILogger.Severity.ERROR, "Serialization assertion failed: magic tag")
            return None
        if plan["tensorrt"].split(".")[0] != __version__.split(".")[0]:
            self._logger.log(ILogger.Severity.ERROR,
                             f"plan built by TensorRT {plan['tensorrt']}, this is {__version__}")
            return None
        if BuilderFlag.VERSION_COMPATIBLE in plan["flags"] and not self.engine_host_code_allowed:
            self._logger.log(ILogger.Severity.ERROR,
                             "engine has host code; set engine_host_code_allowed to load it")
            return None
        return _Engine(plan)

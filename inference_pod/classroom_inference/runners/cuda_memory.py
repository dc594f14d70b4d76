"""Pinned host memory, device memory, streams and events through cuda-python's runtime API.

The GPU runners share these so every batch travels the same way: crops are written into pinned
host buffers that live as long as the runner, and copied with `cudaMemcpyAsync` on a stream, so the
copy engine works while the GPU computes. cuda-python is imported only here, and only when a GPU
runner loads.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np

from classroom_inference.runners.base import BackendUnavailable, RunnerError


class CudaError(RunnerError):
    """A CUDA call failed on a node whose device was present."""


def _error_text(cudart: Any, err: Any) -> str:
    _, name = cudart.cudaGetErrorName(err)
    _, text = cudart.cudaGetErrorString(err)
    return f"{name.decode()}: {text.decode()}"


class Cuda:
    """The CUDA runtime of this process, checked to have at least one device."""

    def __init__(self, cudart: Any) -> None:
        self.cudart = cudart

    @classmethod
    def load(cls) -> Cuda:
        try:
            from cuda.bindings import runtime as cudart
        except ImportError as exc:
            raise BackendUnavailable(
                f"cuda-python is not installed ({exc}); install the `gpu` extra "
                "(pip install 'classroom-operator[gpu]') on GPU nodes"
            ) from exc
        err, count = cudart.cudaGetDeviceCount()
        if err != cudart.cudaError_t.cudaSuccess:
            raise BackendUnavailable(f"no usable CUDA device: {_error_text(cudart, err)}")
        if count < 1:
            raise BackendUnavailable("no CUDA device on this node")
        return cls(cudart)

    def call(self, what: str, result: tuple[Any, ...]) -> Any:
        """The value of a cuda-python call's (err, value...) tuple, or CudaError naming the call."""
        err, *values = result
        if err != self.cudart.cudaError_t.cudaSuccess:
            raise CudaError(f"{what} failed: {_error_text(self.cudart, err)}")
        if not values:
            return None
        return values[0] if len(values) == 1 else tuple(values)

    def copy_to_device(self, dst: int, src: int, nbytes: int, stream: Stream) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyHostToDevice
        self.call("cudaMemcpyAsync", self.cudart.cudaMemcpyAsync(dst, src, nbytes, kind,
                                                                 stream.handle))

    def copy_to_host(self, dst: int, src: int, nbytes: int, stream: Stream) -> None:
        kind = self.cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self.call("cudaMemcpyAsync", self.cudart.cudaMemcpyAsync(dst, src, nbytes, kind,
                                                                 stream.handle))

    def zero_device(self, ptr: int, nbytes: int, stream: Stream) -> None:
        self.call("cudaMemsetAsync", self.cudart.cudaMemsetAsync(ptr, 0, nbytes, stream.handle))


class HostBuffer:
    """Host memory of a fixed size: page-locked (pinned) when `pinned`, else ordinary numpy.

    Pinned memory is what lets cudaMemcpyAsync run at the bus's speed without blocking the host;
    pageable memory is kept as an option only so the benchmark can show the difference.
    """

    def __init__(self, cuda: Cuda, nbytes: int, *, pinned: bool = True) -> None:
        self._cuda = cuda
        self.nbytes = nbytes
        self.pinned = pinned
        self._pageable: np.ndarray | None = None
        if pinned:
            self.ptr: int = int(cuda.call("cudaMallocHost", cuda.cudart.cudaMallocHost(nbytes)))
            raw = (ctypes.c_uint8 * nbytes).from_address(self.ptr)
            self.array: np.ndarray = np.ctypeslib.as_array(raw)
        else:
            self._pageable = np.empty(nbytes, dtype=np.uint8)
            self.array = self._pageable
            self.ptr = int(self._pageable.ctypes.data)

    def view(self, dtype: np.dtype[Any], shape: tuple[int, ...], *, offset: int = 0) -> np.ndarray:
        """The bytes from `offset` on as an array of `shape` (no copy)."""
        count = int(np.prod(shape)) * np.dtype(dtype).itemsize
        return self.array[offset:offset + count].view(dtype).reshape(shape)

    def free(self) -> None:
        if self.pinned and self.ptr:
            self.array = np.empty(0, dtype=np.uint8)
            self._cuda.call("cudaFreeHost", self._cuda.cudart.cudaFreeHost(self.ptr))
        self.ptr = 0
        self._pageable = None


class DeviceBuffer:
    """Device memory of a fixed size, allocated once per runner and reused for every batch."""

    def __init__(self, cuda: Cuda, nbytes: int) -> None:
        self._cuda = cuda
        self.nbytes = nbytes
        self.ptr: int = int(cuda.call("cudaMalloc", cuda.cudart.cudaMalloc(nbytes)))

    def free(self) -> None:
        if self.ptr:
            self._cuda.call("cudaFree", self._cuda.cudart.cudaFree(self.ptr))
        self.ptr = 0


class Stream:
    """A non-blocking stream: it never waits on the legacy default stream other libraries use."""

    def __init__(self, cuda: Cuda) -> None:
        self._cuda = cuda
        self.handle: Any = cuda.call(
            "cudaStreamCreateWithFlags",
            cuda.cudart.cudaStreamCreateWithFlags(cuda.cudart.cudaStreamNonBlocking),
        )

    @property
    def address(self) -> int:
        """The raw cudaStream_t, for libraries that take it as an integer."""
        return int(self.handle)

    def wait(self, event: Event) -> None:
        """Later work on this stream starts only after `event` has completed."""
        self._cuda.call("cudaStreamWaitEvent",
                        self._cuda.cudart.cudaStreamWaitEvent(self.handle, event.handle, 0))

    def synchronize(self) -> None:
        self._cuda.call("cudaStreamSynchronize",
                        self._cuda.cudart.cudaStreamSynchronize(self.handle))

    def destroy(self) -> None:
        if self.handle is not None:
            self._cuda.call("cudaStreamDestroy", self._cuda.cudart.cudaStreamDestroy(self.handle))
        self.handle = None


class Event:
    """A completion marker; timing is disabled because that makes record and wait cheaper."""

    def __init__(self, cuda: Cuda) -> None:
        self._cuda = cuda
        self.handle: Any = cuda.call(
            "cudaEventCreateWithFlags",
            cuda.cudart.cudaEventCreateWithFlags(cuda.cudart.cudaEventDisableTiming),
        )

    def record(self, stream: Stream) -> None:
        self._cuda.call("cudaEventRecord",
                        self._cuda.cudart.cudaEventRecord(self.handle, stream.handle))

    def synchronize(self) -> None:
        self._cuda.call("cudaEventSynchronize",
                        self._cuda.cudart.cudaEventSynchronize(self.handle))

    def destroy(self) -> None:
        if self.handle is not None:
            self._cuda.call("cudaEventDestroy", self._cuda.cudart.cudaEventDestroy(self.handle))
        self.handle = None
